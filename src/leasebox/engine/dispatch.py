"""What the engine does with each message it receives, by sender.

Peers (io, netconf) that break the contract have already been stopped by ipc.decode
(PeerViolation, fatal). A frame from the network that does not decode is dropped with a
rate-limited warning: the network is expected to be hostile, the peers are not.
"""

from __future__ import annotations

import math
from ipaddress import IPv4Address

from leasebox import ipc
from leasebox.core import wire
from leasebox.core.generics import TYPE_CHECKING
from leasebox.core.log import Logger
from leasebox.core.machine.types import (
    AddressConflict,
    ConfigApplied,
    ConfigRefused,
    Lease,
    LeaveRequested,
    MessageReceived,
    ProbeResult,
    ReleaseRequested,
    RenewRequested,
    State,
)
from leasebox.engine import journal
from leasebox.engine.service import EngineService
from leasebox.ipc import control

if TYPE_CHECKING:
    from typing import Any

log = Logger("leasebox.engine")


_ETH_HEADER = 14
_UDP_HEADER = 8
_BOOTP_OP, _BOOTP_HTYPE, _BOOTP_HLEN, _BOOTP_XID, _BOOTP_CHADDR, _BOOTP_COOKIE = \
    0, 1, 2, 4, 28, 236
BOOTREPLY, HTYPE_ETHER, HLEN_ETHER = 2, 1, 6


OTHER_EXCHANGE = "another exchange's xid"
# DHCP message types of a server's answer, and their option-53 values
_ANSWER_TYPES = frozenset({wire.MessageType.OFFER, wire.MessageType.ACK,
                           wire.MessageType.NAK})
_ANSWERS = frozenset(t.value for t in _ANSWER_TYPES)


def answer_xid(frame: bytes) -> int | None:
    """The xid of a pre-screened frame (our chaddr, another exchange's xid) if it is a
    server's OFFER, ACK or NAK by its first option, as servers put option 53; else None.
    Fixed offsets only: a flood of such frames must stay cheap."""
    bootp = _ETH_HEADER + (frame[_ETH_HEADER] & 0x0F) * 4 + _UDP_HEADER
    first = bootp + _BOOTP_COOKIE + 4
    if frame[first:first + 2] != b"\x35\x01" or len(frame) <= first + 2 \
            or frame[first + 2] not in _ANSWERS:
        return None
    return int.from_bytes(frame[bootp + _BOOTP_XID:bootp + _BOOTP_XID + 4], "big")


def prescreen(frame: bytes, mac: bytes, xid: int | None) -> str | None:
    """Why a frame is not worth decoding, from a look at fixed offsets; None: decode it.

    Only a frame that looks like a whole IPv4 BOOTP message is judged here, and dropped
    when it cannot be an answer to us: not a BOOTREPLY, not Ethernet, another client's
    chaddr, another exchange's xid while one is in progress, no magic cookie. A flood of
    well-formed junk, or of other clients' traffic, then costs a few comparisons a frame.
    With no exchange in progress a reply to our chaddr is still decoded: a FORCERENEW
    (which the machine refuses, and reports) or another server's late answer (which
    ServerWatch reports) is worth knowing about. Anything else goes to the strict decoder,
    which says why it is malformed."""
    if len(frame) < _ETH_HEADER + 20 or frame[12:14] != b"\x08\x00":
        return None
    bootp = _ETH_HEADER + (frame[_ETH_HEADER] & 0x0F) * 4 + _UDP_HEADER
    if len(frame) < bootp + _BOOTP_COOKIE + 4:
        return None
    if frame[bootp + _BOOTP_OP] != BOOTREPLY:
        return "not a BOOTREPLY"
    if frame[bootp + _BOOTP_HTYPE] != HTYPE_ETHER or frame[bootp + _BOOTP_HLEN] != HLEN_ETHER:
        return "not an Ethernet client"
    if frame[bootp + _BOOTP_CHADDR:bootp + _BOOTP_CHADDR + 6] != mac:
        return "another client's chaddr"
    if xid is not None and \
            int.from_bytes(frame[bootp + _BOOTP_XID:bootp + _BOOTP_XID + 4], "big") != xid:
        return OTHER_EXCHANGE
    if frame[bootp + _BOOTP_COOKIE:bootp + _BOOTP_COOKIE + 4] != wire.MAGIC_COOKIE:
        return "no magic cookie"
    return None


def _frame(svc: EngineService, data: bytes) -> None:
    if svc.link is not None and svc.client is not None:
        why = prescreen(data, svc.link.mac, svc.client.awaited_xid)
        if why is not None:
            if why is OTHER_EXCHANGE and (xid := answer_xid(data)) is not None:
                # (the server by the frame's source address: its identifier is an option)
                svc.note_answer_xid(xid, IPv4Address(data[26:30]), data[6:12])
            svc.note_ignored()
            return
    try:
        frame, message = wire.decode_frame_message(data)
    except wire.DecodeError as exc:
        svc.note_dropped(exc.reason)
        return
    if message.op is not wire.Op.BOOTREPLY:
        return  # another client's request, seen on the shared segment
    if not svc.from_server(message, frame.src_mac):
        return
    if svc.link is not None and message.chaddr[:6] == svc.link.mac and \
            message.message_type in _ANSWER_TYPES:
        svc.note_answer_xid(message.xid, message.server_id, frame.src_mac)
    svc.feed(MessageReceived(svc.clock(), message))


def engine_dispatch_io(svc: EngineService, msg: ipc.Message) -> None:
    match msg:
        case ipc.LinkState():
            first = svc.client is None
            svc.link_changed(msg)
            if first and svc.left_early is False:
                # The leave that came before the client asked for the configuration to go:
                # a predecessor's, which netconf may still hold (with a lease file), goes
                # now that the link is there (none went with it), as a client's would have.
                svc.remove_unknown(svc.clock())
        case ipc.Frames(frames):
            for data in frames:
                _frame(svc, data)
        case ipc.ProbeResult(address, conflict):
            svc.feed(ProbeResult(svc.clock(), address, conflict))
        case ipc.Conflict(address, mac):
            # io has said who, rate-limited; the machine says what it does about it
            log.debug("ARP from %s claims %s", mac.hex(":"), address)
            svc.feed(AddressConflict(svc.clock(), address))
        case ipc.TxDone(sent):
            if not sent:
                log.debug("io could not transmit one message")
            svc.tx_done()
        case _:  # decode() checked the direction; this is unreachable by contract
            raise ipc.PeerViolation(f"io: unexpected {type(msg).__name__}")


def engine_dispatch_netconf(svc: EngineService, msg: ipc.Message) -> None:
    if not isinstance(msg, ipc.Result):
        raise ipc.PeerViolation(f"netconf: unexpected {type(msg).__name__}")
    ok = msg.status is ipc.ResultStatus.OK
    pending = svc.ledger.result(msg.request_id, ok)
    if pending is None:
        raise ipc.PeerViolation(f"netconf: result for unknown request {msg.request_id}")
    now = svc.clock()
    if ok:
        svc.netconf_unsure = False  # it holds what it was asked for from now on
        # an apply's OK, or a reapply's (the lease in use, sent again to a new netconf),
        # says what of it netconf left out; a removal's, that none of it is left
        svc.netconf_notes = "" if pending.kind == "remove" else msg.reason
        if pending.kind == "remove":
            svc.removal_failed = None  # nothing of ours is left on the link
        if pending.kind == "apply" and pending.client == svc.ledger.client:
            svc.last_error = ""  # a lease is in use again: an old failure is history
            svc.feed(ConfigApplied(now))
        return
    svc.last_error = f"netconf {msg.status.name.lower()}: {msg.reason}"
    if pending.kind == "remove":
        svc.removal_failed = (msg.request_id, msg.reason)
    log.error("netconf %s the %s: %s", msg.status.name.lower(), pending.kind, msg.reason)
    if pending.kind == "apply" and pending.client == svc.ledger.client:  # (not a replaced
        # client's: the new one's own answer is to come)
        svc.feed(ConfigRefused(now, msg.reason, failed=msg.status is ipc.ResultStatus.FAILED))
    elif pending.kind == "reapply" and pending.client == svc.ledger.client \
            and msg.status is ipc.ResultStatus.REFUSED and pending.lease == svc.ledger.applied:
        # the lease in use, which netconf's policy refuses now (a changed configuration):
        # it goes now, not at the server's next ACK
        svc.feed(ConfigRefused(now, msg.reason, in_use=True))


def _reply(ok: bool, body: dict[str, Any] | None = None, error: str = "") -> bytes:
    """A reply that always encodes: one too large for the control socket becomes an error
    reply (the lease is bounded where it is built, so this is a bug, never a crash)."""
    try:
        return control.encode_reply(ok, body, error)
    except control.ControlError as exc:
        log.error("control reply not sent: %s", exc)
        return control.encode_reply(False, error=f"reply not sent: {exc}")


RENEWABLE = frozenset({State.BOUND, State.RENEWING, State.REBINDING, State.INIT,
                       State.SELECTING, State.STOPPED})


def io_ready(svc: EngineService) -> bool:
    """Whether io is connected and has reported the link: a new engine has no client
    before that (no state, no lease: it comes back from the live state or the lease file
    with the link's report)."""
    return svc.io is not None and svc.client is not None


def waits_for_io(svc: EngineService, command: control.Command | None) -> bool:
    """Whether a renew or release would be refused now only for want of io, and may wait
    for it (engine.main's IO_WAIT): io not connected (restarting, or following the
    engine's own restart), or connected but its link not reported yet. (A renew after a
    release only starts again: what it sends waits for io, and for the link.)"""
    if command not in (control.Command.RENEW, control.Command.RELEASE) or io_ready(svc):
        return False
    if svc.client is None:  # the state and the lease are not known yet
        return True
    if command is control.Command.RELEASE:
        return svc.client.lease is not None
    return svc.state is not State.STOPPED


def _not_now(svc: EngineService, command: control.Command) -> str:
    """Why a renew or release cannot be done now, or "". Renew: bound, renew now; INIT or
    SELECTING, DISCOVER now, not after the back-off or the next retransmission; STOPPED
    (after a release), start again; elsewhere an exchange is already under way."""
    if svc.client is None:
        # (held IO_WAIT for io before: the state and the lease are not known until io has
        # reported the link; not "no lease", which the lease file may well hold)
        return ("io is not running (restarting?): nothing can be sent; try again"
                if svc.io is None else
                f"io has not reported {svc.settings.interface} yet (restarting?); try again")
    if command is control.Command.RELEASE and svc.client.lease is None:
        return "no lease to release"
    if svc.io is None and not (command is control.Command.RENEW and svc.state is State.STOPPED):
        # the RELEASE would be lost, and the server keep the lease; the REQUEST or DISCOVER
        # too, and the answer "Renewing" would not be true
        return "io is not running (restarting?): nothing can be sent; try again"
    if command is control.Command.RELEASE:
        return ""
    if svc.state in RENEWABLE and not (svc.state is State.SELECTING and svc.client is not None
                                       and svc.client.offer_in_hand):
        return ""
    if svc.link is None or not svc.link.carrier:  # INIT-REBOOT waits for it
        return f"no carrier on {svc.settings.interface}: the lease is checked when it comes back"
    return f"an exchange is in progress (state {svc.state}); try again once it is over"


def _leave(svc: EngineService, shutdown: bool, now: float) -> None:
    """Leave the link (`leaseboxctl leave`, the target's stop), or keep it for the next
    boot at shutdown."""
    # At shutdown or reboot the lease is kept for the next boot's INIT-REBOOT,
    # unless SendRelease=always.
    release = not shutdown or svc.settings.release_at_shutdown
    keep = svc.settings.keep_configuration
    if not release:
        log.info("leaving the link as the system shuts down: the lease is kept for "
                 "the next boot (SendRelease=always would release it)")
    if shutdown and svc.netconf is None:
        # Once the system shuts down, systemd starts no socket-activated service
        # (the socket's stop job flushes the connection): an idle-exited netconf
        # would only hold the shutdown up (the loop waits for no removal either).
        # The address stays, so the lease is not released either (RFC 2131 4.4.6;
        # a soft reboot would even keep the address into the next boot).
        log.info("netconf has exited idle and is not started while the system "
                 "shuts down: the configuration stays until the system is down")
        if release:
            log.warning("SendRelease=always: the lease is kept, not released, as "
                        "its address cannot be removed now")
        keep, release = True, False
    if release and svc.io is None and svc.client is not None \
            and svc.client.lease is not None:
        # Between io's restarts (or after its start limit), or while io waits for
        # the interface to appear, nothing can be sent: the server keeps the lease,
        # and so does the lease file, for the next start. (Without a RELEASE,
        # KeepConfiguration= decides about the address, as for SendRelease=no.)
        log.warning("io is not connected (restarting, or waiting for %s to "
                    "appear): no DHCPRELEASE can be sent; the lease is kept, the "
                    "server holds it until it runs out", svc.settings.interface)
        release = False
    svc.feed(LeaveRequested(now, release=release, keep_configuration=keep,
                            shutdown=shutdown))
    if svc.client is None:  # io has not reported the link yet: no client to stop
        svc.left_early = keep
    svc.live.retire()
    if keep:
        # what stays on the link is no longer the engine's: not sent again to a netconf
        # started later (a replaced link), days after the lease ran out
        svc.ledger.applied = None
    else:
        svc.remove_unknown(now)


def engine_dispatch_control(svc: EngineService, data: bytes) -> bytes:
    """Answer one control request. A bad request gets an error reply, nothing more."""
    try:
        req = control.decode_request(data)
    except control.ControlError as exc:
        return _reply(False, error=str(exc))
    now = svc.clock()
    match req.command:
        case control.Command.STATUS:
            return _reply(True, status(svc, now))
        case control.Command.RENEW | control.Command.RELEASE:
            # A request refused for the state costs none of the rate's budget.
            if error := _not_now(svc, req.command):
                return _reply(False, error=error)
            if wait := svc.command_rate.allow(now):
                # rounded up: "in 0 s" came back refused again
                return _reply(False, error=f"too many renew/release requests; try again in "
                                            f"{math.ceil(wait)} s")
            if req.command is control.Command.RENEW:
                svc.live.resume()  # after a leave, the snapshot is kept again
                svc.feed(RenewRequested(now))
            else:
                # kept again (after a leave, which retired it): a STOPPED snapshot is an
                # operator's release, which a crash or an upgrade's restart must keep
                svc.live.resume()
                svc.feed(ReleaseRequested(now))
                svc.remove_unknown(now)
        case control.Command.LEAVE | control.Command.SHUTDOWN:
            _leave(svc, req.command is control.Command.SHUTDOWN, now)
    return _reply(True, status(svc, svc.clock()))


def leave_reply(svc: EngineService, removals: frozenset[int]) -> bytes:
    """The answer to a leave that waited for its removals (`removals`, ledger.pending_removals
    right after it): the status once netconf confirmed them all; an error when netconf
    could not carry one out, and a warning with the status when it has not answered yet,
    so that the caller (the target's stop job, through leaseboxctl) does not take a link
    that may still carry the address for a clean one."""
    iface = svc.settings.interface
    if svc.removal_failed is not None and svc.removal_failed[0] in removals:
        return _reply(False, error=f"netconf could not remove the configuration "
                                   f"({svc.removal_failed[1]}): some of it may still be on "
                                   f"{iface}")
    result = status(svc, svc.clock())
    if removals & svc.ledger.pending.keys():  # slow (a netconf starting on a busy machine)
        # rather than failed: it may still come (it stays pending, and goes again on each
        # new connection to netconf while this engine runs)
        result["warning"] = (f"netconf has not confirmed the removal of the configuration "
                             f"yet: the address, routes and DNS may still be on {iface}")
    return _reply(True, result)


def received_options(svc: EngineService, lease: Lease) -> dict[str, str] | None:
    """The options asked for (RequestOptions=) that leasebox does not know, as the server
    sent them (hex): shown, never applied. None when the ACK is not at hand (a lease
    resumed from the live state keeps no ACK until its next renewal)."""
    if lease.ack is None:
        return None
    asked = set(svc.settings.client.request_options)
    return {str(code): data.hex(":") for code, data in lease.ack.unknown if code in asked}


def status(svc: EngineService, now: float) -> dict[str, Any]:
    lease = svc.client.lease if svc.client else None
    out: dict[str, Any] = {
        "interface": svc.settings.interface,
        "state": str(svc.state) if svc.state else None,
        # io reports the carrier: without it, what it said last may no longer be true
        "io": svc.io is not None,
        "carrier": svc.link.carrier if svc.link and svc.io else None,
        "mac": svc.link.mac.hex(":") if svc.link else None,
        "status": svc.status_text(now),
        "last_error": svc.last_error or None,
        "netconf_notes": svc.netconf_notes or None,
        "servers": svc.servers.describe(),
        "fqdn": svc.settings.fqdn,
        "lease": None,
    }
    if lease is not None:
        infinite = lease.lease_time == 0xFFFFFFFF
        out["lease"] = {
            "address": str(lease.address),
            "prefixlen": lease.prefixlen,
            "gateway": journal.gateway(lease),
            "server_id": str(lease.server_id),
            "routers": [str(r) for r in lease.routers],
            "dns_servers": [str(d) for d in lease.dns_servers],
            "ntp_servers": [str(n) for n in lease.ntp_servers],
            "domain_name": lease.domain_name,
            "domain_search": list(lease.domain_search),
            "hostname": lease.hostname,
            "classless_routes": ([str(r) for r in lease.classless_routes]
                                 if lease.classless_routes is not None else None),
            "mtu": lease.mtu,
            "captive_portal": svc.captive_portal(lease),
            "received_options": received_options(svc, lease),
            "lease_time": lease.lease_time,
            "obtained_ago": now - lease.acquired_at,
            "expires_in": None if infinite else lease.expires_at - now,
            "t1_in": None if infinite else lease.t1_at - now,
            "t2_in": None if infinite else lease.t2_at - now,
        }
    return out
