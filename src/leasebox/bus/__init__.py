"""leasebox-bus: the one process that talks to systemd-resolved and -timesyncd (uid 0, no
capabilities). Its path says what it may touch: the system bus and its own runtime files."""
