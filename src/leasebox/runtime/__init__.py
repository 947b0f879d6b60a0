"""Helpers every leasebox process shares: sd_notify and socket activation (sd), journald
logging (log), the exec ban (sandbox), atomic files, interface names."""
