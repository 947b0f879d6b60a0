"""Suspend-aware time: the engine's CLOCK_BOOTTIME alarm, and the adapter acting at once
when its (injected) clock jumps across the lease's deadlines, as after a resume."""

from __future__ import annotations

import select
import time
from pathlib import Path

from leasebox import ipc
from leasebox.core.machine.types import State
from leasebox.engine import boottime
from leasebox.ipc import channel
from tests.engine.test_engine_service import bind, make_rig
from tests.machine.machine_helpers import ADDRESS


def _readable(alarm: boottime.Alarm, timeout: float) -> bool:
    return bool(select.select([alarm], [], [], timeout)[0])


def test_the_alarm_runs_on_boottime() -> None:
    alarm = boottime.Alarm()
    try:
        assert abs(boottime.now() - time.clock_gettime(time.CLOCK_BOOTTIME)) < 0.1
        alarm.set(boottime.now() + 0.3)
        assert not _readable(alarm, 0.05)
        started = time.monotonic()
        assert _readable(alarm, 2.0)
        assert 0.15 < time.monotonic() - started < 1.0
        alarm.clear()
        assert not _readable(alarm, 0.05)
        # a deadline already passed (a resume after it) fires at once, 0 included
        for deadline in (boottime.now() - 3600.0, 0.0):
            alarm.set(deadline)
            assert _readable(alarm, 0.5)
            alarm.clear()
    finally:
        alarm.close()


def test_a_resume_past_expiry_removes_the_address_at_once(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    bind(rig)
    lease = rig.svc.client.lease if rig.svc.client else None
    assert lease is not None
    rig.clock.now = lease.expires_at + 8 * 3600.0  # the clock jumped: a night in suspend
    deadline = rig.svc.timer()
    assert deadline is not None and deadline <= rig.clock.now
    rig.svc.on_timer(rig.clock.now)
    assert rig.netconf_conn is not None
    remove = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(remove, ipc.Remove)
    assert rig.svc.state in (State.INIT, State.SELECTING)
    assert rig.svc.client is not None and rig.svc.client.lease is None


def test_a_resume_past_t2_rebinds_at_once(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    bind(rig)
    lease = rig.svc.client.lease if rig.svc.client else None
    assert lease is not None
    rig.clock.now = (lease.t2_at + lease.expires_at) / 2
    rig.svc.on_timer(rig.clock.now)
    assert rig.svc.state is State.REBINDING
    msg = channel.recv(rig.io, ipc.Peer.ENGINE, ipc.Peer.IO)
    assert isinstance(msg, ipc.SendBroadcast) and msg.source == ADDRESS
