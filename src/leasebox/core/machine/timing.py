"""How long the client waits, and how often it tries: every number in one place.

Randomness comes only from the injected Random; each function that draws says so.
"""

from __future__ import annotations

from leasebox.core.machine.types import Random

# RFC 2131 4.4.1 asks for a 1-10 s random wait before the first DISCOVER (a SHOULD), so
# that a site whose power comes back does not have every client shout at once. That costs
# every boot and every link change up to ten seconds for an event the retransmission jitter
# below already spreads (each retry is +-1 s random), and a server answers a burst of
# DISCOVERs anyway. leasebox sends the first DISCOVER at once, as systemd-networkd and
# `dhcpcd --nodelay` do (up to 100 ms of random wait was measured as the largest
# single item on the cold-start path, which is a boot's critical path).

# RFC 2131 4.1: 4 s, doubling, at most 64 s, each randomised by +-1 s.
RETRANSMIT_BASE = 4.0
RETRANSMIT_MAX = 64.0
RETRANSMIT_JITTER = 1.0

# How many times each message goes out before the client gives up on that exchange.
# DISCOVER: 4+8+16+32+64+64 s, about 3 minutes, then INIT starts again with a new xid.
DISCOVER_ATTEMPTS = 6
# as the 5th DISCOVER goes (~60 s in), an exchange without a usable offer is warned of
DISCOVERS_WARNED = 5
# REQUEST after an OFFER: 4+8+16+32 s, then back to INIT: the server that offered is gone.
REQUEST_ATTEMPTS = 4
# INIT-REBOOT: the REQUEST goes at once and again REBOOT_WAIT (+-REBOOT_JITTER) later, and
# REBOOT_WAIT after that the client falls back to DISCOVER (reboot.py): ~5 s in all, dhcpcd's
# default (`reboot 5`; systemd-networkd sends one REQUEST and waits 3-5 s). A server that is
# there answers within a second, and one that does not know the address (Kea, dnsmasq and
# ISC dhcpd unless authoritative, on another network with the same subnet as the last,
# 192.168.1.0/24 at home and at work) never does: RFC 2131's 4 s and 8 s waits only kept
# such a host 10-14 s without its new lease.
REBOOT_ATTEMPTS = 2
REBOOT_WAIT = 2.5
REBOOT_JITTER = 0.5
# An exchange's count of tries stops here: every limit above is far below it, and an
# operator's renews while the server is away (3 per 10 s, for an hour) must not take it out
# of the range a saved state may hold (snapshot), which a restart would refuse.
MAX_TRIES = 1000

# RFC 2131 4.4.5: in RENEWING/REBINDING retransmit after half the time left to T2 (resp.
# expiry), but not sooner than 60 s.
RENEW_RETRY_MIN = 60.0

# RFC 2131 4.4.5: "Times T1 and T2 SHOULD be chosen with some random 'fuzz' around a fixed
# value, to avoid synchronization of client reacquisition": hosts that got their leases
# together (a site's power back, a server back after an outage) would otherwise renew
# together at every T1 for good. Each of T1 and T2 comes earlier by a random part of
# TIMES_FUZZ_PART of it, at most TIMES_FUZZ_MAX seconds: a day's lease renews within ten
# minutes before its T1, an hour's within ~2 minutes. Earlier only: the client never waits
# past what the server said. (ISC dhclient moves T1 by up to a quarter, systemd-networkd
# by +-1 s, and only the defaults.)
TIMES_FUZZ_PART = 1 / 16
TIMES_FUZZ_MAX = 600.0

# RFC 2131 3.1.5: at least 10 s after a DECLINE before starting again.
DECLINE_WAIT = 10.0

# RFC 8925 3.4: MIN_V6ONLY_WAIT.
V6ONLY_WAIT_MIN = 300

# An ARP probe (RFC 5227) takes at most PROBE_WAIT + 2 * PROBE_MAX + ANNOUNCE_WAIT = 7 s.
# If the adapter has not answered by this time, no conflict was seen. Twice that and more:
# an io restarted during a probe runs it again from the start (engine.service).
PROBE_TIMEOUT = 15.0
# RFC 5227 2.3: ANNOUNCE_NUM announcements once an address is in use (io spaces them).
ANNOUNCE_NUM = 2
# RFC 5227 2.4 (b): a conflict while bound is defended with one announcement, unless there
# was another within DEFEND_INTERVAL: then the address is given up (DECLINE, INIT).
DEFEND_INTERVAL = 10.0

# Consecutive failures (NAK; refused, failed or declined lease) back off: the first restarts
# at once, then 2, 4, 8, 16, 32 s, then 60 s until a lease is bound. That stops a NAK storm
# (a server that offers what it then refuses) without slowing the ordinary single NAK after
# a move.
FAILURE_BACKOFF_MAX = 60.0
MAX_FAILURES = 32  # only to keep the counter bounded; the delay is capped long before

# After netconf refuses a lease or the client declines one, the same address from the same
# server is not taken again for this long (the server is likely to offer it again at once).
AVOID_TIME = 300.0
# A lease kept applied through a carrier loss must be confirmed (an ACK) this long after the
# carrier's return, or it goes: the laptop may have woken on a network where no DHCPv4
# server answers (an IPv6-only SSID), and its old address, default route and DNS would stay
# until the lease ran out. Past an access port's spanning-tree wait (30 s) and a DHCP
# server's moment away; networkd and dhcpcd drop the configuration at the carrier loss.
CONFIRM_TIME = 60.0
MAX_AVOIDED = 8

# SELECTING keeps at most this many offers while the offer window is open.
MAX_OFFERS = 16


def retransmit_delay(rng: Random, attempt: int) -> float:
    """Draws: the wait after transmission number `attempt` (1 for the first) of a DISCOVER,
    REQUEST (selecting, init-reboot) before the next one."""
    doublings = min(max(attempt, 1) - 1, 8)
    base = min(RETRANSMIT_BASE * (1 << doublings), RETRANSMIT_MAX)
    return base + (rng.random() * 2 - 1) * RETRANSMIT_JITTER


def reboot_delay(rng: Random) -> float:
    """Draws: the wait after an INIT-REBOOT REQUEST, before the next one or the fall-back."""
    return REBOOT_WAIT + (rng.random() * 2 - 1) * REBOOT_JITTER


def fuzzed_times(rng: Random, renewal: int, rebinding: int) -> tuple[int, int]:
    """Draws: T1 and T2 (whole seconds from the lease's start, 0 < T1 < T2) each moved
    earlier by up to TIMES_FUZZ_PART of it (TIMES_FUZZ_MAX at most), still 0 < T1 < T2."""
    t1 = renewal - int(rng.random() * min(renewal * TIMES_FUZZ_PART, TIMES_FUZZ_MAX))
    t2 = rebinding - int(rng.random() * min(rebinding * TIMES_FUZZ_PART, TIMES_FUZZ_MAX))
    return t1, max(t2, t1 + 1)


def renew_retry_delay(now: float, until: float) -> float:
    """The wait before retransmitting a renewing (until=T2) or rebinding (until=expiry)
    REQUEST. The deadline itself still cuts it short."""
    return max(RENEW_RETRY_MIN, (until - now) / 2)


def failure_backoff(failures: int) -> float:
    """The wait before INIT starts again after the `failures`-th failure in a row."""
    if failures <= 1:
        return 0.0
    return min(float(1 << min(failures - 1, 16)), FAILURE_BACKOFF_MAX)
