"""Helpers every leasebox process shares: sd_notify and socket activation (sd), journald
and stderr sinks of the log (log), the exec ban (sandbox), atomic files, interface names."""
