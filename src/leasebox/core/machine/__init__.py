"""leasebox.core.machine: the RFC 2131 client as a pure, sans-I/O state machine.

The adapter (leasebox.engine) feeds it events carrying `now` and carries out the actions
it returns; see client.py for the shape, transitions.py for the rules, types.py for the
contract, snapshot.py for restarting without a DHCP exchange.
"""

from leasebox.core.machine.client import Client
from leasebox.core.machine.errors import LeaseError, SnapshotError, UsageError
from leasebox.core.machine.lease import lease_from_ack

__all__ = ["Client", "LeaseError", "SnapshotError", "UsageError", "lease_from_ack"]
