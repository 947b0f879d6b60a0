"""netconf's handler for what the engine sends: one Result for each Apply and Remove.

The ipc decoder has already checked the message's shape; a type that is not for netconf
is a peer violation (fatal). A value out of policy is REFUSED with nothing changed; a kernel
error is FAILED with everything rolled back. If the link itself has gone or been replaced,
netconf cannot do its one job on it: LinkGone leaves the request unanswered and closes the
connection (the engine sends the request again), and main waits for a link of the name.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

from leasebox import ipc
from leasebox.core.log import Logger
from leasebox.core.record import record
from leasebox.netconf.apply import ApplyFailed, Configurator, NotOurs
from leasebox.netconf.policy import Policy
from leasebox.netconf.rtnl import LinkInfo, Rtnl
from leasebox.netconf.state import StateFile
from leasebox.netconf.validate import LinkLimits, Plan, Refused, make_plan
from leasebox.runtime import atomicfile as atomic
from leasebox.runtime import readfile

MAX_REASON = 200  # the ipc contract's bound on Result.reason

log = Logger("leasebox.netconf")


class LinkGone(Exception):
    """Our interface disappeared or now names another link: exit, the request unanswered."""


class LinkUnreadable(Exception):
    """The kernel did not say what our link is this time (rtnl_lock held past the timeout,
    EIO): the link and what is on it are as they were. The request stays unanswered (the
    engine sends it again) and nothing is forgotten, as it is for a link gone (main.py).
    (Not a FAILED: the engine takes that for the kernel refusing the lease, and drops any
    but a renewal's.)"""


@record(frozen=False)
class Netconf:
    ifname: str
    ifindex: int
    policy: Policy
    rtnl: Rtnl
    configurator: Configurator
    state: StateFile | None = None
    on_change: Callable[[str], object] = lambda status: None  # STATUS= for systemd
    clock: Callable[[], float] = time.monotonic
    boottime: Callable[[], float] = lambda: time.clock_gettime(time.CLOCK_BOOTTIME)
    save_again_at: float | None = None  # the state file is out of date: when to try again
    # the lifetime of the lease last applied; None: none applied, or removed since (or this
    # netconf has not applied one yet)
    lifetime: int | None = None

    def status(self) -> str:
        t = self.configurator.tracked
        text = (f"{self.ifname}: nothing applied" if t.address is None
                else f"{self.ifname}: {t.address}, {len(t.routes)} route(s)")
        pending = self.configurator.pending()
        return f"{text}; {pending}" if pending else text

    def retry(self, now: float) -> float | None:
        """Hand DNS/NTP on if a retry is due; when the next one is (None: none pending)."""
        due = self.configurator.due(now)
        if due is not None and now >= due:
            self.configurator.hand_off(now)
            self.save_state()
            self.on_change(self.status())
        elif self.save_again_at is not None and now >= self.save_again_at:
            self.save_state()
        # (while the state file is out of date, no idle exit: this is what knows)
        return min((t for t in (self.configurator.due(now), self.save_again_at)
                    if t is not None), default=None)

    def link_gone(self) -> None:
        """The link went: take back its DNS and NTP now (one try; a netconf serving the
        name later tries again), so that timesyncd does not keep its servers and
        leasebox-bus does not hold it for ever. A link renamed keeps what was applied to
        it (a rename removes nothing), which is no longer this interface's: it is taken
        off first. Forgotten on it, it stayed; and once the name came back, an infinite
        lease's address, permanent there, was refused as not netconf's own, and the
        lease's MTU taken for the link's own, to be "restored" at the removal."""
        now = self.clock()
        if self._renamed():
            try:
                self.configurator.remove(now)
                log.info("took the lease's configuration off the renamed link (ifindex %d)",
                         self.ifindex)
            except ApplyFailed as exc:  # (gone meanwhile, or the kernel said no)
                log.warning("could not take the lease's configuration off the renamed link "
                            "(ifindex %d): %s", self.ifindex, exc)
        self.configurator.link_gone(now)
        self.configurator.hand_off(now)
        self.save_state()
        self.on_change(self.status())

    def _renamed(self) -> bool:
        """Whether our ifindex is still there, under another name."""
        try:
            self.rtnl.link(self.ifindex)
        except OSError:  # ENODEV: gone; or not readable now, and nothing is removed
            return False
        return True

    def save_state(self) -> None:
        """After every change, successful or not: a restarted netconf must know it. When
        it cannot be saved (a full /run), the old file goes, which a restarted netconf
        would act on (removing another lease's routes, leaving this one's address), and
        this netconf stays, trying again every SAVE_RETRY seconds."""
        if self.state is None:
            return
        try:
            self.state.save(self.configurator.tracked)
        except OSError as exc:
            if self.save_again_at is None:  # said once
                log.error("cannot save state to %s: %s; trying again every %.0f s, and "
                          "not exiting idle meanwhile", self.state.path, exc, SAVE_RETRY)
                try:
                    self.state.discard()
                except OSError as err:
                    log.error("cannot remove the out-of-date %s either: %s",
                              self.state.path, err)
            self.save_again_at = self.clock() + SAVE_RETRY
            return
        if self.save_again_at is not None:
            log.info("state saved to %s after all", self.state.path)
            self.save_again_at = None


SAVE_RETRY = 10.0  # seconds between two tries of a state file that could not be saved
LEASE_END_FILENAME = "lease-end"  # beside the state file: see note_lease_end
# seconds past a lease's end before netconf takes it off on its own (expire_kept): a
# running engine's removal at the end comes first, and the end noted here may be up to a
# second before the engine's
EXPIRY_GRACE = 60.0


def result(request_id: int, status: ipc.ResultStatus, reason: str) -> ipc.Result:
    """A Result the contract accepts: printable ASCII, bounded (reasons quote values)."""
    text = "".join(c if " " <= c <= "~" else "?" for c in reason)
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 3] + "..."
    return ipc.Result(request_id, status, text)


def notes_text(notes: tuple[str, ...], ifname: str) -> str:
    """An OK's reason: the notes whole, as many as fit in the contract's bound, and then
    how many more there are and where (netconf logs each), rather than one cut short."""
    where = f"journalctl -u leasebox-netconf@{ifname}"
    text = ""
    for n, note in enumerate(notes):
        joined = f"{text}; {note}" if text else note
        rest = len(notes) - n - 1
        if len(joined) + (len(f"; {rest} more: {where}") if rest else 0) > MAX_REASON:
            left = rest + 1
            if text:
                return f"{text}; {left} more: {where}"
            return f"{left} note{'s' if left > 1 else ''}, too long for here: {where}"
        text = joined
    return text


def check_link(nc: Netconf, request_id: int) -> LinkInfo:
    """Re-check before every change that IFNAME still is the link we resolved at start: our
    ifindex still exists and still has that name (names are unique, so no other link has
    it). One RTM_GETLINK: a lookup by name as well would cost a dump of every link."""
    link: LinkInfo | None
    try:
        link = nc.rtnl.link(nc.ifindex)
    except OSError as exc:
        if exc.errno != errno.ENODEV:
            raise LinkUnreadable(f"cannot read link {nc.ifname}: {exc}; request "
                                 f"#{request_id} is left for the engine to send again") from None
        link = None
    if link is None or link.name != nc.ifname:
        raise LinkGone(f"interface {nc.ifname} (ifindex {nc.ifindex}) is gone or was "
                       f"replaced; request #{request_id} is left for the engine to send again")
    return link


def _describe(plan: Plan, mtu_left: int | None = None, mtu_refused: bool = False) -> str:
    parts = [f"address {plan.interface}", "lifetime infinite" if plan.lifetime == ipc.INFINITE
             else f"lifetime {plan.lifetime}"]
    parts += [f"route {r}" for r in plan.routes]
    if mtu_left is not None:  # (Configurator.mtu_left)
        parts.append(f"mtu {mtu_left} as set by hand" + (
            "" if plan.mtu is None else f" (the lease's {plan.mtu} not set)"))
    elif plan.mtu is not None and not mtu_refused:  # (else a note says why)
        parts.append(f"mtu {plan.mtu}")
    if plan.dns_servers:
        parts.append("dns " + ",".join(map(str, plan.dns_servers)))
    if plan.domains:
        parts.append("search " + ",".join(plan.domains))
    return "; ".join(parts)


def _apply(nc: Netconf, msg: ipc.Apply) -> ipc.Result:
    link = check_link(nc, msg.request_id)
    if link.port_of:
        return _refuse_on_a_port(nc, msg, link.port_of)
    try:
        plan = make_plan(msg, nc.policy, LinkLimits(link.max_mtu, link.ipv6))
    except Refused as exc:
        log.warning("refused apply #%d: %s", msg.request_id, exc)
        return result(msg.request_id, ipc.ResultStatus.REFUSED, str(exc))
    try:
        nc.configurator.apply(plan, nc.clock())
        nc.lifetime = plan.lifetime
        note_lease_end(nc, None if plan.lifetime == ipc.INFINITE
                       else nc.boottime() + plan.lifetime)
    except NotOurs as exc:
        log.warning("refused apply #%d: %s", msg.request_id, exc)
        return result(msg.request_id, ipc.ResultStatus.REFUSED, str(exc))
    except ApplyFailed as exc:
        log.error("apply #%d failed, rolled back: %s", msg.request_id, exc)
        return result(msg.request_id, ipc.ResultStatus.FAILED, str(exc))
    finally:
        nc.save_state()
    refused = nc.configurator.mtu_refused
    log.info("applied #%d: %s", msg.request_id,
             _describe(plan, nc.configurator.mtu_left, bool(refused)),
             extra={"LEASE_ADDRESS": str(plan.interface.ip)})
    notes = (*plan.notes, refused) if refused else plan.notes
    for note in notes:
        log.warning("apply #%d: %s", msg.request_id, note)
    left = nc.configurator.mtu_left
    if left is not None and plan.mtu not in (None, left):  # (said in the line above)
        notes += (f"mtu {plan.mtu} not set, {left} set by hand kept",)
    return result(msg.request_id, ipc.ResultStatus.OK, notes_text(notes, nc.ifname))


def _refuse_on_a_port(nc: Netconf, msg: ipc.Apply, kind: str) -> ipc.Result:
    """The link was made a port of a bridge, bond or team while leased (io sits it out
    from then on): the lease in use, sent again to a netconf started to take its DNS back,
    went back onto the port, where a carrier loss's `linkdown` never comes, and its routes
    carried traffic the master takes (black-holed) until the lease ran out. Refused, and
    what is applied taken off, as networkd and dhcpcd drop such a link's configuration."""
    why = (f"{nc.ifname} is a port of a {kind} interface, which takes its frames: the "
           "lease belongs on that interface")
    if not nc.configurator.tracked.empty:
        try:
            nc.configurator.remove(nc.clock())
            nc.configurator.hand_off(nc.clock())
            note_lease_end(nc, None)
            nc.lifetime = None
            why += "; the configuration applied before is removed"
        except ApplyFailed as exc:
            why += f"; the configuration applied before could not all be removed: {exc}"
        finally:
            nc.save_state()
    log.warning("refused apply #%d: %s", msg.request_id, why)
    return result(msg.request_id, ipc.ResultStatus.REFUSED, why)


def _remove(nc: Netconf, msg: ipc.Remove) -> ipc.Result:
    check_link(nc, msg.request_id)
    if nc.configurator.tracked.empty:
        log.info("remove #%d: nothing applied", msg.request_id)
        return result(msg.request_id, ipc.ResultStatus.OK, "nothing was applied")
    try:
        nc.configurator.remove(nc.clock())
        # Taking DNS/NTP back is tried before the reply (unlike handing them on): whoever
        # asked for the removal may stop everything as soon as it has the answer. If it
        # cannot be done now it stays pending, and the loop retries.
        nc.configurator.hand_off(nc.clock())
    except ApplyFailed as exc:
        log.error("remove #%d incomplete: %s", msg.request_id, exc)
        return result(msg.request_id, ipc.ResultStatus.FAILED, str(exc))
    finally:
        nc.save_state()
    note_lease_end(nc, None)
    nc.lifetime = None
    log.info("removed #%d: the link is as it was before leasebox", msg.request_id)
    return result(msg.request_id, ipc.ResultStatus.OK, "")


def note_lease_end(nc: Netconf, end: float | None) -> None:
    """Note when the lease applied runs out (CLOCK_BOOTTIME; None: never, or nothing
    applied) for expire_kept, beside the state file: a renewal's new end would make a full
    /run cost the state file (Netconf.save_state). A note that cannot be written goes:
    none is no harm, an old one would take a renewed lease off."""
    if nc.state is None:
        return
    address = nc.configurator.tracked.address
    try:
        if end is None or address is None:
            atomic.remove(nc.state.directory, LEASE_END_FILENAME)
        else:
            atomic.write_atomic(nc.state.directory, LEASE_END_FILENAME,
                                f"{address} {end:.3f}\n".encode())
    except OSError as exc:
        log.warning("cannot note when the lease runs out (%s)", exc.strerror or exc)
        try:
            atomic.remove(nc.state.directory, LEASE_END_FILENAME)
        except OSError:
            pass


def expire_kept(nc: Netconf) -> None:
    """Take off a configuration kept past its lease. KeepConfiguration=yes leaves it at the
    engine's stop with the kernel's lifetime on the address, which stands still while the
    machine is suspended: a laptop that slept through the lease's end kept the address, its
    routes and DNS (these without a lifetime) after waking. netconf checks by CLOCK_BOOTTIME
    when it starts (note_lease_end), the next engine asking for a lease of its own. The DNS
    and NTP go back at the serving loop's next hand-off. A removal that fails keeps the
    note, for the next netconf to try again."""
    t = nc.configurator.tracked
    if t.address is None or nc.state is None:
        return
    try:
        noted = readfile.read_regular(os.path.join(nc.state.directory, LEASE_END_FILENAME),
                                      64).decode("ascii").split()
        address, end = noted[0], float(noted[1])
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError, IndexError, ValueError) as exc:
        log.warning("not reading when the lease runs out: %s", exc)
        return
    if address != str(t.address) or nc.boottime() < end + EXPIRY_GRACE:
        return
    log.info("the lease of %s ran out %.0f s ago, kept on the link past it: taking it off",
             t.address, nc.boottime() - end)
    try:
        nc.configurator.remove(nc.clock())
    except ApplyFailed as exc:
        log.error("cannot take the expired lease off: %s", exc)
        return
    finally:
        nc.save_state()
    note_lease_end(nc, None)


def netconf_dispatch_engine(nc: Netconf, msg: ipc.Message) -> ipc.Result:
    match msg:
        case ipc.Apply():
            return _apply(nc, msg)
        case ipc.Remove():
            return _remove(nc, msg)
    raise ipc.PeerViolation(f"netconf_dispatch_engine: invalid {type(msg).__name__}")
