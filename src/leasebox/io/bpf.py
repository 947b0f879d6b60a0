"""Classic BPF programs for io's packet sockets, and attaching them so they cannot change.

The programs are written here as bytes (struct sock_filter), not compiled by a tool: they are
short, and a reader can check each instruction against the comment beside it. Offsets are
from the start of the Ethernet header, as a SOCK_RAW packet socket sees the frame.

A filter attached with SO_ATTACH_FILTER and then locked with SO_LOCK_FILTER can be neither
replaced nor removed for the life of the socket, not even by root: if io is later subverted
it still only sees what the filter passes.
"""

from __future__ import annotations

import ctypes
import socket
import struct

from leasebox.core.record import record

# <asm-generic/socket.h>; the socket module does not export these.
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_GET_FILTER = SO_ATTACH_FILTER
SO_LOCK_FILTER = 44

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
IPPROTO_UDP = 17
DHCP_CLIENT_PORT = 68

# Instruction classes and modes from <linux/filter.h>.
_LD, _LDX, _JMP, _RET = 0x00, 0x01, 0x05, 0x06
_W, _H, _B = 0x00, 0x08, 0x10
_ABS, _IND, _MSH = 0x20, 0x40, 0xA0
_JEQ, _JSET = 0x10, 0x40
_K = 0x00

# Accept: keep the whole frame (more than any frame io takes; io drops oversized ones itself).
_ACCEPT = 0x40000

_INSN = struct.Struct("=HBBI")


@record
class Insn:
    code: int
    jt: int
    jf: int
    k: int


def _stmt(code: int, k: int) -> Insn:
    return Insn(code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> Insn:
    return Insn(code, jt, jf, k)


def assemble(program: list[Insn]) -> bytes:
    """Lay out a program as the kernel's struct sock_filter array."""
    return b"".join(_INSN.pack(i.code, i.jt, i.jf, i.k) for i in program)


# Jump offsets count instructions after the jump itself: from index i to the final
# "ret #0" at index n-1 the offset is n-2-i. Each line notes its index and target.
DHCP_PROGRAM = assemble([
    _stmt(_LD | _H | _ABS, 12),                      # 0: A = ethertype
    _jump(_JMP | _JEQ | _K, ETH_P_IP, 0, 8),         # 1: IPv4, else -> 10
    _stmt(_LD | _B | _ABS, 23),                      # 2: A = IPv4 protocol
    _jump(_JMP | _JEQ | _K, IPPROTO_UDP, 0, 6),      # 3: UDP, else -> 10
    _stmt(_LD | _H | _ABS, 20),                      # 4: A = flags + fragment offset
    # Drop every fragment, the first one too (MF set, offset 0): io never reassembles, so
    # a first fragment would only hand the engine a truncated datagram.
    _jump(_JMP | _JSET | _K, 0x3FFF, 4, 0),          # 5: MF or offset -> 10
    _stmt(_LDX | _B | _MSH, 14),                     # 6: X = IPv4 header length
    _stmt(_LD | _H | _IND, 16),                      # 7: A = UDP destination port
    _jump(_JMP | _JEQ | _K, DHCP_CLIENT_PORT, 0, 1),  # 8: port 68, else -> 10
    _stmt(_RET | _K, _ACCEPT),                       # 9: accept
    _stmt(_RET | _K, 0),                             # 10: drop
])

# ARP for IPv4 over Ethernet, requests and replies. The address being probed or guarded is
# not in the program: a locked filter cannot be reprogrammed per address, and by then io no
# longer holds CAP_NET_RAW to open a fresh socket. io compares the addresses itself
# (arp.py), and reads the socket only while a probe runs or an address is guarded.
ARP_PROGRAM = assemble([
    _stmt(_LD | _H | _ABS, 12),                      # 0: A = ethertype
    _jump(_JMP | _JEQ | _K, ETH_P_ARP, 0, 10),       # 1: ARP, else -> 12
    _stmt(_LD | _H | _ABS, 14),                      # 2: A = hardware type
    _jump(_JMP | _JEQ | _K, 1, 0, 8),                # 3: Ethernet, else -> 12
    _stmt(_LD | _H | _ABS, 16),                      # 4: A = protocol type
    _jump(_JMP | _JEQ | _K, ETH_P_IP, 0, 6),         # 5: IPv4, else -> 12
    _stmt(_LD | _H | _ABS, 18),                      # 6: A = hlen, plen
    _jump(_JMP | _JEQ | _K, 0x0604, 0, 4),           # 7: 6 and 4, else -> 12
    _stmt(_LD | _H | _ABS, 20),                      # 8: A = operation
    _jump(_JMP | _JEQ | _K, 1, 1, 0),                # 9: request -> 11
    _jump(_JMP | _JEQ | _K, 2, 0, 1),                # 10: reply, else -> 12
    _stmt(_RET | _K, _ACCEPT),                       # 11: accept
    _stmt(_RET | _K, 0),                             # 12: drop
])


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _fprog(program: bytes) -> tuple[bytes, ctypes.Array[ctypes.c_char]]:
    """struct sock_fprog for `program`, and the buffer it points to (keep it alive)."""
    if not program or len(program) % _INSN.size:
        raise ValueError("a BPF program is a non-empty array of 8-byte instructions")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // _INSN.size, ctypes.addressof(buf))
    return bytes(prog), buf


def attach_locked(sock: socket.socket, program: bytes) -> None:
    """Attach `program` to `sock`, then lock it so it can never be detached or replaced."""
    fprog, buf = _fprog(program)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    del buf  # the kernel copied the program during setsockopt
    sock.setsockopt(socket.SOL_SOCKET, SO_LOCK_FILTER, 1)


def is_locked(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.SOL_SOCKET, SO_LOCK_FILTER) == 1


# The interpreter links libc, so its symbols are already loaded: dlopen(NULL) finds them
# without ctypes.util.find_library, which would pull in subprocess (about 1.5 MiB).
_libc = ctypes.CDLL(None, use_errno=True)


def attached_program(sock: socket.socket, max_insns: int = 64) -> bytes | None:
    """The classic BPF program attached to `sock` (as bytes), or None if there is none.

    Python's getsockopt cannot read it: the kernel reports the length in instructions, not
    bytes, so the byte string Python returns would be cut short. Ask libc directly.
    """
    buf = ctypes.create_string_buffer(max_insns * _INSN.size)
    optlen = ctypes.c_uint(max_insns)  # the kernel reads and writes this as a count
    rc = _libc.getsockopt(sock.fileno(), socket.SOL_SOCKET, SO_GET_FILTER, buf,
                          ctypes.byref(optlen))
    if rc != 0:
        return None
    return buf.raw[: optlen.value * _INSN.size]
