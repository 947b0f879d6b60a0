"""The benchmark suite: leasebox against its peers under a real systemd (scripts/bench)."""
