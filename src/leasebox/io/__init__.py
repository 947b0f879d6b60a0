"""leasebox-io: the per-interface process that owns the wire (see main.py)."""
