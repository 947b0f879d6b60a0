"""The lease events are named in several places that users read or depend on: the journal's
MESSAGE_IDs (leasebox.core.events), their catalog entries (units/leasebox.catalog, for
`journalctl -x`), leasebox(8)'s table of them, the hooks' event names (the engine writes
them, `leaseboxctl dispatch` checks them). An event kind added to the state machine must
reach every one of them."""

from __future__ import annotations

import re
from pathlib import Path

from leasebox.core import events
from leasebox.core.machine.types import LeaseEventKind
from leasebox.ctl.dispatch import EVENTS as HOOK_EVENT_NAMES
from leasebox.engine import journal
from leasebox.engine.events import HOOK_EVENTS, KEPT_EVENT
from tests.machine.machine_helpers import remembered

REPO = Path(__file__).resolve().parents[1]


def test_every_lease_event_kind_has_a_message_id_and_a_hook_event() -> None:
    assert set(events.LEASE_EVENT_IDS) == {kind.value for kind in LeaseEventKind}
    assert set(HOOK_EVENTS) == set(LeaseEventKind)
    # "changed" is "bound" to another address, decided when the event is queued;
    # "renew-failed" a FAILED whose lease in use stays
    assert set(HOOK_EVENTS.values()) | {"changed", KEPT_EVENT} == HOOK_EVENT_NAMES
    lease = remembered()
    lines = {journal.event_text(kind, lease, "why") for kind in LeaseEventKind}
    assert len(lines) == len(LeaseEventKind)  # each its own words in the journal


def test_every_message_id_is_in_the_catalog_and_the_manual() -> None:
    ids = [*events.LEASE_EVENT_IDS.values(), events.CAPTIVE_PORTAL_ID, events.SERVERS_ID,
           events.OTHER_CLIENT_ID]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    catalog = re.findall(r"^-- ([0-9a-f]{32})$",
                         (REPO / "units/leasebox.catalog").read_text(), re.MULTILINE)
    assert sorted(catalog) == sorted(ids)
    manual = (REPO / "man/leasebox.8").read_text()
    assert [i for i in events.LEASE_EVENT_IDS.values() if f";{i}\n" not in manual] == []
