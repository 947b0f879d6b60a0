"""leasebox: a privilege-separated DHCPv4 client built as socket-activated systemd units."""

__version__ = "0.1.0"
