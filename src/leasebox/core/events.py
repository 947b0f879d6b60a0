"""The journal's MESSAGE_IDs: a public contract, explained by units/leasebox.catalog; and
where the lease hooks live.

`journalctl MESSAGE_ID=...` finds every event of one kind; the engine logs them, and
`leaseboxctl monitor` follows them. Keyed by the LEASE_EVENT= value the engine adds to each
lease event (leasebox.core.machine.types.LeaseEventKind). Pure data.
"""

from __future__ import annotations

LEASE_EVENT_IDS: dict[str, str] = {
    "acquired": "55ef93db5b18443b94509ad61d61b8dc",
    "renewed": "7ac3f99f2d834a1b81283b0960a04a5f",
    "rebound": "96fade9db6b9495db355b4b10b8eb16d",
    "lost": "2efe5a8bf5fe46aeb70abc4a35d5c55f",
    "declined": "c13b6e1cd90d4f0abb930d23746db3c9",
    "released": "084a4a2ba8f54de49275fc45b17f08c1",
    "left": "fcc4e61baa3342b8b72d84d295e1c4d9",
    "refused": "ef05f01effda4921b611b1fb64da3bb2",
    "failed": "fe522e366714449da8eaf30e3c75f575",
}
# a lease that brings a captive portal (RFC 8910), or another one than before
CAPTIVE_PORTAL_ID = "0f5e15b99eed4656a4a549e952983476"
# more than one DHCP server answers on a link
SERVERS_ID = "4f2c7bd2a9f44a8f9e1d3c6b0a5e7d21"
# a server answers another DHCP client that uses the link's MAC address
OTHER_CLIENT_ID = "b6a3d0e4c1f54e7a9d2c8f0e5a7b3c19"

# The lease hooks, by precedence (leaseboxctl dispatch runs them; leasebox(8), "HOOKS")
HOOK_DIRS = ("/etc/leasebox/dispatch.d", "/run/leasebox-conf/dispatch.d",
             "/usr/lib/leasebox/dispatch.d")
# What editors and package managers leave beside a hook (as systemd skips them in its own
# directories): an old copy keeps its execute bit, and is not a hook.
HOOK_BACKUP_SUFFIXES = ("~", ".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp",
                        ".dpkg-bak", ".dpkg-backup", ".dpkg-remove", ".ucf-old", ".ucf-new",
                        ".ucf-dist", ".rpmnew", ".rpmsave", ".rpmorig", ".swp", ".bak",
                        ".old", ".new")


def hook_name(name: str) -> bool:
    """Whether a name in a hook directory can be a hook: not hidden, not a backup copy."""
    return not name.startswith(".") and not name.endswith(HOOK_BACKUP_SUFFIXES)


def boot_id(text: str) -> str | None:
    """A boot ID as 32 lower-case hexadecimal digits (systemd's %b has no dashes, the
    kernel's /proc/sys/kernel/random/boot_id has), or None if `text` is not one."""
    digits = text.strip().replace("-", "").lower()
    if len(digits) != 32 or digits.strip("0123456789abcdef"):
        return None
    return digits
