"""netconf's requests end to end on a fake kernel: what a failed link lookup does."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Any

import pytest
from tests.netconf.test_netconf_apply import FakeKernel, FakeResolver

from leasebox import ipc
from leasebox.core.record import replace
from leasebox.netconf.apply import Configurator
from leasebox.netconf.dispatch import (
    EXPIRY_GRACE,
    SAVE_RETRY,
    LinkGone,
    LinkUnreadable,
    Netconf,
    expire_kept,
    netconf_dispatch_engine,
)
from leasebox.netconf.policy import Policy
from leasebox.netconf.rtnl import LinkInfo
from leasebox.netconf.state import StateFile
from leasebox.runtime import atomicfile

A = IPv4Address
APPLY = ipc.Apply(1, A("192.0.2.10"), 24, 600, None, (A("192.0.2.1"),), None,
                  (A("192.0.2.53"),), ())


class FakeRtnl:
    def __init__(self) -> None:
        self.error: int | None = None
        self.port_of = ""

    def link(self, index: int) -> LinkInfo:
        if self.error is not None:
            raise OSError(self.error, "read link 3")
        return LinkInfo(3, "eth0", 1500, 9000, False, port_of=self.port_of)


def netconf(state_dir: Path, kernel: FakeKernel, rtnl: FakeRtnl) -> Netconf:
    state = StateFile(str(state_dir), 3)
    return Netconf("eth0", 3, Policy(), rtnl,  # type: ignore[arg-type]  # a fake
                   Configurator(kernel, FakeResolver(), state.load()), state)


def test_a_lease_is_not_applied_on_a_bridge_port(tmp_path: Path) -> None:
    """eth0 put in a bridge while leased: io sits it out, but the lease in use, sent again
    to a netconf started to take its DNS back, went back onto the port, whose routes the
    kernel kept using (a port keeps its carrier) while the bridge took the replies. It is
    refused now, and what was applied taken off."""
    kernel, rtnl = FakeKernel(), FakeRtnl()
    nc = netconf(tmp_path, kernel, rtnl)
    assert netconf_dispatch_engine(nc, APPLY).status is ipc.ResultStatus.OK
    assert kernel.addresses and kernel.routes
    rtnl.port_of = "bridge"
    answer = netconf_dispatch_engine(nc, replace(APPLY, request_id=2))
    assert answer.status is ipc.ResultStatus.REFUSED
    assert "port of a bridge interface" in answer.reason and "removed" in answer.reason
    assert not kernel.addresses and not kernel.routes and nc.configurator.tracked.empty
    answer = netconf_dispatch_engine(nc, replace(APPLY, request_id=3))
    assert answer.status is ipc.ResultStatus.REFUSED and "removed" not in answer.reason


@pytest.mark.parametrize("error", [errno.EIO, errno.ETIMEDOUT])
def test_a_link_lookup_that_fails_leaves_the_request_and_forgets_nothing(
        tmp_path: Path, error: int) -> None:
    """A passing netlink failure (rtnl_lock held past the timeout, EIO) is not the link
    gone: taken for it, netconf forgot the address it applied, so that the engine's Remove
    sent again found "nothing applied" and left it on the link. Nor is it a FAILED, which
    the engine takes for the kernel refusing the lease. netconf leaves the request for the
    engine to send again (to the next netconf, main.py), with its state as it was."""
    kernel, rtnl = FakeKernel(), FakeRtnl()
    nc = netconf(tmp_path, kernel, rtnl)
    assert netconf_dispatch_engine(nc, APPLY).status is ipc.ResultStatus.OK
    rtnl.error = error
    for request in (ipc.Remove(2), replace(APPLY, request_id=2)):
        with pytest.raises(LinkUnreadable, match="cannot read link eth0"):
            netconf_dispatch_engine(nc, request)
    assert nc.configurator.tracked.address == IPv4Interface("192.0.2.10/24")
    rtnl.error = None
    again = netconf(tmp_path, kernel, rtnl)  # the next netconf, from the state file
    assert netconf_dispatch_engine(again, ipc.Remove(2)).status is ipc.ResultStatus.OK
    assert kernel.addresses == {} and kernel.routes == []


def test_a_link_gone_is_said_so(tmp_path: Path) -> None:
    rtnl = FakeRtnl()
    nc = netconf(tmp_path, FakeKernel(), rtnl)
    rtnl.error = errno.ENODEV
    with pytest.raises(LinkGone):
        netconf_dispatch_engine(nc, APPLY)
    assert IPv4Interface("192.0.2.10/24") not in nc.configurator.kernel.addresses  # type: ignore[attr-defined]


def test_an_mtu_the_kernel_refuses_costs_the_mtu_not_the_lease(tmp_path: Path) -> None:
    """A VLAN or macvlan reports a maximum MTU its parent's current one overrules: the
    kernel refuses the lease's jumbo MTU. The lease was FAILED for it, asked for again,
    granted with the same MTU and FAILED again, and the link never got an address."""
    kernel = FakeKernel()
    kernel.fail_on = "mtu 9000"
    nc = netconf(tmp_path, kernel, FakeRtnl())
    answer: Any = netconf_dispatch_engine(nc, replace(APPLY, mtu=9000))
    assert answer.status is ipc.ResultStatus.OK
    assert answer.reason == "mtu 9000 not set (mtu 9000: EINVAL), 1500 kept"
    assert IPv4Interface("192.0.2.10/24") in kernel.addresses and kernel.mtu == 1500
    assert nc.configurator.tracked.mtu is None  # nothing of ours to put back at the end
    kernel.fail_on = None
    assert netconf_dispatch_engine(nc, replace(APPLY, request_id=2, mtu=9000)).reason == ""
    assert kernel.mtu == 9000
    netconf_dispatch_engine(nc, ipc.Remove(3))
    assert kernel.mtu == 1500


def test_an_mtu_set_by_hand_and_kept_is_said_in_the_answer(tmp_path: Path) -> None:
    """`ip link set mtu 9000` after the lease set 1400: a renewal keeps theirs
    (leasebox.conf(5)), and `leaseboxctl status` shows it under "Not applied" rather than
    the lease's MTU alone."""
    kernel = FakeKernel()
    nc = netconf(tmp_path, kernel, FakeRtnl())
    assert netconf_dispatch_engine(nc, replace(APPLY, mtu=1400)).reason == ""
    kernel.mtu = 9000
    answer: Any = netconf_dispatch_engine(nc, replace(APPLY, request_id=2, mtu=1400))
    assert answer.status is ipc.ResultStatus.OK and kernel.mtu == 9000
    assert answer.reason == "mtu 1400 not set, 9000 set by hand kept"
    # a lease without an MTU leaves theirs, and has nothing to say about it
    assert netconf_dispatch_engine(nc, replace(APPLY, request_id=3)).reason == ""


def test_an_mtu_set_though_its_answer_failed_is_ours(tmp_path: Path) -> None:
    """A netlink timeout after the kernel took the MTU: it is on the link, so it is
    tracked, and the link's own comes back at the end."""
    class LateKernel(FakeKernel):
        late = True

        def set_mtu(self, mtu: int) -> None:
            super().set_mtu(mtu)
            if self.late:
                raise OSError(errno.ETIMEDOUT, "no answer")

    kernel = LateKernel()
    nc = netconf(tmp_path, kernel, FakeRtnl())
    answer: Any = netconf_dispatch_engine(nc, replace(APPLY, mtu=9000))
    assert answer.status is ipc.ResultStatus.OK and answer.reason == ""
    assert kernel.mtu == 9000 and nc.configurator.tracked.original_mtu == 1500
    kernel.late = False
    netconf_dispatch_engine(nc, ipc.Remove(2))
    assert kernel.mtu == 1500


def test_an_mtu_not_set_and_not_read_back_costs_only_the_mtu(tmp_path: Path) -> None:
    """rtnl_lock held past the timeout: the MTU not set, and the link not read back either.
    That second failure failed the whole apply, which costs the engine the lease."""
    class StuckKernel(FakeKernel):
        stuck = False

        def set_mtu(self, mtu: int) -> None:
            self.stuck = True
            raise OSError(errno.ETIMEDOUT, "no answer")

        def link_mtu(self) -> int:
            if self.stuck:
                raise OSError(errno.ETIMEDOUT, "no answer")
            return super().link_mtu()

    kernel = StuckKernel()
    nc = netconf(tmp_path, kernel, FakeRtnl())
    answer: Any = netconf_dispatch_engine(nc, replace(APPLY, mtu=9000))
    assert answer.status is ipc.ResultStatus.OK and answer.reason.startswith("mtu 9000 not set")
    assert IPv4Interface("192.0.2.10/24") in kernel.addresses


def test_a_state_file_that_cannot_be_saved_is_not_left_out_of_date(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/run full: the state of the next lease could not be saved, and the file still said
    the last one; netconf then exited idle, and the next one removed the old lease's routes
    at a Remove and left this one's address. Now the old file goes, netconf stays (its
    retry is due: no idle exit) and saves it once it can. A renewal, whose state the file
    already holds, costs nothing."""
    kernel, rtnl = FakeKernel(), FakeRtnl()
    nc = netconf(tmp_path, kernel, rtnl)
    clock = [100.0]
    nc.clock = lambda: clock[0]
    assert netconf_dispatch_engine(nc, APPLY).status is ipc.ResultStatus.OK
    assert nc.retry(clock[0]) is None  # (its DNS handed on, and that saved)
    assert nc.state is not None and (tmp_path / "netconf.state").exists()
    real_write = atomicfile.write_atomic

    def full(directory: str, name: str, data: bytes, mode: int = 0o644) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomicfile, "write_atomic", full)
    renewal = replace(APPLY, request_id=2)  # the same state: the file says it already
    assert netconf_dispatch_engine(nc, renewal).status is ipc.ResultStatus.OK
    assert (tmp_path / "netconf.state").exists() and nc.save_again_at is None
    other = replace(APPLY, request_id=3, address=A("192.0.2.20"))
    assert netconf_dispatch_engine(nc, other).status is ipc.ResultStatus.OK
    assert not (tmp_path / "netconf.state").exists()
    assert nc.retry(clock[0]) == pytest.approx(clock[0] + SAVE_RETRY)  # no idle exit
    monkeypatch.setattr(atomicfile, "write_atomic", real_write)
    clock[0] += SAVE_RETRY
    assert nc.retry(clock[0]) is None
    saved = StateFile(str(tmp_path), 3).load()
    assert saved is not None and saved.address == IPv4Interface("192.0.2.20/24")


def test_a_configuration_kept_past_its_lease_goes_when_netconf_starts(tmp_path: Path) -> None:
    """KeepConfiguration=yes: the engine left, the address kept with the kernel's lifetime,
    which stands still in a suspend. The next netconf (the next start's, from the state
    file) takes off what ran out by CLOCK_BOOTTIME, and nothing else: not a lease with
    time left, not an infinite one."""
    kernel, clock = FakeKernel(), [5000.0]
    nc = replace(netconf(tmp_path, kernel, FakeRtnl()), boottime=lambda: clock[0])
    assert netconf_dispatch_engine(nc, APPLY).status is ipc.ResultStatus.OK
    assert (tmp_path / "lease-end").read_text() == "192.0.2.10/24 5600.000\n"
    clock[0] = 5599.0
    again = replace(netconf(tmp_path, kernel, FakeRtnl()), boottime=lambda: clock[0])
    expire_kept(again)
    assert IPv4Interface("192.0.2.10/24") in kernel.addresses  # time left
    clock[0] = 5600.0 + EXPIRY_GRACE - 1  # the running engine's own removal comes first
    expire_kept(replace(netconf(tmp_path, kernel, FakeRtnl()), boottime=lambda: clock[0]))
    assert IPv4Interface("192.0.2.10/24") in kernel.addresses
    clock[0] = 5600.0 + 8 * 3600  # a night suspended
    later = replace(netconf(tmp_path, kernel, FakeRtnl()), boottime=lambda: clock[0])
    expire_kept(later)
    assert kernel.addresses == {} and kernel.routes == []
    assert later.configurator.tracked.address is None
    later.retry(later.clock())  # the DNS goes back at the serving loop's next hand-off
    assert netconf(tmp_path, kernel, FakeRtnl()).configurator.tracked.empty  # saved
    # infinite: never
    assert netconf_dispatch_engine(later, replace(APPLY, request_id=2,
                                                  lifetime=ipc.INFINITE)).reason == ""
    assert not (tmp_path / "lease-end").exists()
    expire_kept(later)
    assert IPv4Interface("192.0.2.10/24") in kernel.addresses
    # a renewal that could not note its new end (a full /run): no note, rather than the
    # old one, which would take the renewed lease off
    assert netconf_dispatch_engine(later, replace(APPLY, request_id=3)).reason == ""
    (tmp_path / "lease-end").write_text("192.0.2.10/24 1.000\n")  # the old lease's
    real_write = atomicfile.write_atomic
    try:
        atomicfile.write_atomic = _full  # type: ignore[assignment]
        assert netconf_dispatch_engine(later, replace(APPLY, request_id=4)).reason == ""
    finally:
        atomicfile.write_atomic = real_write
    assert not (tmp_path / "lease-end").exists()
    expire_kept(later)
    assert IPv4Interface("192.0.2.10/24") in kernel.addresses
    # a removal that fails keeps the note: the next netconf tries again
    assert netconf_dispatch_engine(later, replace(APPLY, request_id=5)).reason == ""
    clock[0] += 600 + EXPIRY_GRACE
    kernel.fail_on = "deladdr"
    expire_kept(later)
    assert (tmp_path / "lease-end").exists()
    kernel.fail_on = None
    expire_kept(replace(netconf(tmp_path, kernel, FakeRtnl()), boottime=lambda: clock[0]))
    assert kernel.addresses == {} and not (tmp_path / "lease-end").exists()


def _full(directory: str, name: str, data: bytes, mode: int = 0o644) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")
