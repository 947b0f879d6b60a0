"""The lease file: what survives a reboot, read back as hostile input.

Layout: an 8-byte magic, a version byte, a zero byte, the length of the ACK (u16; version 1,
written before it was there, has zero), the wall-clock time the lease was acquired (u64
nanoseconds since the epoch), then the server's ACK exactly as the codec encodes it. The
length is what tells a cut-off file from a whole one: the codec drops a malformed option it
does not need, so a file cut inside its options would otherwise read as a lease without
them. Reading runs the ACK through the same strict decoder as a packet off the wire
(CVE-2021-25217 was a lease-file parser that trusted its own file); a file that fails any
check is logged by the caller and discarded.
"""

from __future__ import annotations

import errno
import struct

from leasebox.core import wire
from leasebox.core.log import Logger
from leasebox.core.machine import lease_from_ack
from leasebox.core.machine.types import Lease
from leasebox.core.record import record
from leasebox.runtime import atomicfile, readfile

MAGIC = b"LBXLEASE"
VERSION = 2
READABLE = (1, 2)
HEADER = struct.Struct("!8sBxHQ")
# the largest ACK a jumbo frame (ipc.MAX_FRAME, 9216 octets) carries, encoded again, with
# room to spare: store() writes nothing that load() would refuse for its size
MAX_ACK = 16384
MAX_SIZE = HEADER.size + MAX_ACK
FILENAME = "lease"
log = Logger("leasebox.engine")
CLOCK_SLACK = 60.0  # seconds a lease may be "acquired" in the future without a word


class LeaseFileError(Exception):
    pass


class NewerLeaseFile(LeaseFileError):
    """Written by a later leasebox (a downgrade): not read, and not thrown away either."""


@record
class Expired:
    """A lease file whose lease ran out: not used, but its address is asked for again in
    the DISCOVER (RFC 2131 4.4.1 lets a client suggest the address it last had), as when a
    lease runs out while the engine runs. A machine
    switched off for longer than its lease, or a board without a real-time clock whose
    clock is ahead of the file, keeps its address where the server still has it free."""

    lease: Lease


class UnreadableLeaseFile(LeaseFileError):
    """The file could not be read this time (an I/O error, no free file descriptor...):
    nothing is known about its content, so it is kept, not thrown away."""


def store(directory: str, lease: Lease, acquired_wall: float) -> None:
    """Write atomically (temporary file, fsync, rename, fsync the directory), owner only."""
    if lease.ack is None:
        raise LeaseFileError("lease has no ACK to store")
    ack = wire.encode(lease.ack)
    if len(ack) > MAX_ACK:
        raise LeaseFileError(f"an ACK of {len(ack)} octets, more than a lease file holds "
                             f"({MAX_ACK})")
    data = HEADER.pack(MAGIC, VERSION, len(ack), int(acquired_wall * 1e9)) + ack
    atomicfile.write_atomic(directory, FILENAME, data, mode=0o600)


def forget(directory: str) -> None:
    atomicfile.remove(directory, FILENAME)


def load(directory: str, *, now_mono: float, now_wall: float,
         min_lease_time: int) -> Lease | Expired | None:
    """The remembered lease, Expired when it has run out, or None when there is none.

    Raises LeaseFileError for a file that is not a valid lease file.
    """
    try:
        data = readfile.read_regular(f"{directory}/{FILENAME}", MAX_SIZE)
    except FileNotFoundError:
        return None
    except readfile.NotRegularFile:
        raise LeaseFileError("not a regular file") from None
    except OSError as exc:
        raise _read_error(exc) from None
    return parse(data, now_mono=now_mono, now_wall=now_wall, min_lease_time=min_lease_time)


def _read_error(exc: OSError) -> LeaseFileError:
    """A link in its place is no lease file; any other failure says nothing about the
    file's content."""
    error = LeaseFileError if exc.errno == errno.ELOOP else UnreadableLeaseFile
    return error(f"cannot read: {exc.strerror or exc}")


def parse(data: bytes, *, now_mono: float, now_wall: float,
          min_lease_time: int) -> Lease | Expired | None:
    if len(data) >= HEADER.size:  # a later version's file is kept, whatever its size
        magic, version, length, acquired_ns = HEADER.unpack_from(data)
        if magic == MAGIC and version > max(READABLE):
            raise NewerLeaseFile(f"version {version}, from a later leasebox")
    if not HEADER.size < len(data) <= MAX_SIZE:
        raise LeaseFileError(f"size {len(data)}")
    if magic != MAGIC or version not in READABLE:
        raise LeaseFileError("not a leasebox lease file (magic or version)")
    if version >= 2 and length != len(data) - HEADER.size:
        raise LeaseFileError(f"ACK of {len(data) - HEADER.size} bytes, header says {length}")
    age = now_wall - acquired_ns / 1e9
    if age < -CLOCK_SLACK:
        # The clock is behind the file: a board without a real-time clock, booted before
        # NTP. How much of the lease is left is not known, but a remembered lease is only
        # asked for again (INIT-REBOOT), never used before the server's ACK: ask.
        log.warning("the lease file was written %.0f s from now: the clock is behind (no "
                    "real-time clock?); asking for the lease as if it were new", -age)
        age = 0.0
    try:
        ack = wire.decode(data[HEADER.size:])
    except wire.DecodeError as exc:
        raise LeaseFileError(f"stored ACK: {exc.reason}") from None
    if ack.message_type is not wire.MessageType.ACK:
        raise LeaseFileError("stored message is not an ACK")
    try:
        lease = lease_from_ack(ack, now_mono - max(age, 0.0), min_lease_time)
    except ValueError as exc:
        raise LeaseFileError(f"stored ACK: {exc}") from None
    if lease.lease_time != 0xFFFFFFFF and lease.expires_at <= now_mono:
        # said: on a board without a real-time clock a lease written before NTP set the
        # clock looks this old (and a new lease comes through DISCOVER, not INIT-REBOOT)
        log.info("the lease file's lease of %s ran out %.0f s ago by the clock; asking "
                 "for a new one, and for that address again", lease.address,
                 now_mono - lease.expires_at)
        return Expired(lease)
    return lease
