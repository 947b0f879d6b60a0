"""Each process narrows itself once start-up is done: after that, no exec, ever.

systemd's SystemCallFilter= cannot forbid execve: the service manager itself needs it to
start the service, so it is always allowed. Nothing in leasebox execs anything, so once
a process has what it needs it installs one more seccomp filter of its own, like OpenBSD's
pledge without "exec": execve and execveat kill the whole process (SIGSYS), everything
else is left to the filters systemd already installed. forbid_exec(refuse=True) is the
same filter answering EPERM instead of killing, for the start-up of a process whose
libraries probe by running programs (netconf: pyroute2 0.7); the kill filter follows.

How, and why that way:
- Classic BPF through prctl(PR_SET_SECCOMP), not the seccomp(2) system call: seccomp(2)
  is not in systemd 252's @system-service set, where the units' filters answer it with
  EPERM (systemd 257 lets it through); prctl works under both. The price is that prctl
  has no TSYNC: the filter covers the calling
  thread and what it later creates, not threads that already run. So a process with
  other threads is refused (OSError), rather than given a filter with a hole in it.
  The kernel tells, without /proc (which io's and netconf's units do not mount):
  unshare(CLONE_THREAD) changes nothing in a process of one thread and fails with EINVAL
  in one of more (unshare(2); since Linux 4.3 it checks exactly that the thread group is
  empty); RestrictNamespaces= filters only the namespace flags. Where nothing can tell
  (unshare filtered by another sandbox, and no /proc), the filter is refused too.
- no_new_privs first (the kernel requires it without CAP_SYS_ADMIN; the units set it too).
- The architecture is checked: a system call made through another ABI (i386 via int 0x80
  on x86_64, arm32 on aarch64) has other numbers, so it is killed too (refused, with
  `refuse`), as systemd's SystemCallArchitectures=native does. On x86_64 the x32 numbers
  of execve and execveat are matched as well. On an architecture not listed here
  forbid_exec() does nothing and returns False.
- A filter can never be removed, and filters stack: the strictest answer of all of them
  wins, so a kill filter after a refusing one makes exec kill, and calling this twice
  just adds one more filter.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from leasebox.core.log import Logger
from leasebox.core.record import record

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ALLOW = 0x7FFF0000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
_OFFSET_NR = 0
_OFFSET_ARCH = 4

# classic BPF opcodes (linux/filter.h)
BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
BPF_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K

_X32_SYSCALL_BIT = 0x40000000


@record
class Arch:
    name: str
    audit_arch: int  # AUDIT_ARCH_*: EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
    exec_calls: tuple[int, ...]  # execve and execveat, in every ABI under that audit arch
    # bind, connect, sendto, sendmsg, sendmmsg (lock_sends)
    net_calls: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    # what gives an fd a second number, which the send lock (by number) would not know:
    # dup, dup2 (x86_64 only), dup3, socketpair (SCM_RIGHTS to itself), io_uring_setup
    # (its own send path), pidfd_getfd; fcntl, for F_DUPFD and F_DUPFD_CLOEXEC; and
    # setsockopt, for SO_PASSCRED and SO_PASSPIDFD, with which an unbound AF_UNIX socket
    # binds itself (autobind) and could receive its own SCM_RIGHTS, and for SOL_PACKET's
    # options but PACKET_AUXDATA
    fd_calls: tuple[int, ...] = ()
    fcntl: int = -1
    setsockopt: int = -1


ARCHES: dict[str, Arch] = {
    "x86_64": Arch("x86_64", 0xC000003E,
                   (59, 322, _X32_SYSCALL_BIT | 520, _X32_SYSCALL_BIT | 545),
                   (49, 42, 44, 46, 307), (32, 33, 292, 53, 425, 438), 72, 54),
    "aarch64": Arch("aarch64", 0xC00000B7, (221, 281), (200, 203, 206, 211, 269),
                    (23, 24, 199, 425, 438), 25, 208),
}
F_DUPFD, F_DUPFD_CLOEXEC = 0, 1030
SOL_SOCKET, SO_PASSCRED, SO_PASSPIDFD = 1, 16, 76  # asm-generic: x86_64 and aarch64
SOL_PACKET, PACKET_AUXDATA = 263, 8
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
_OFFSET_ARG0 = 16  # args[i] at 16 + 8 * i, little-endian: the low word first
_OFFSET_ARG1 = 16 + 8  # fcntl's cmd, an unsigned int: the kernel reads the low word only
_OFFSET_ARG2 = 16 + 16  # setsockopt's optname, an int
_OFFSET_ARG4 = 16 + 8 * 4

_INSN = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k


def native_arch() -> Arch | None:
    """The architecture this interpreter makes system calls for, if forbid_exec knows it.

    uname() names the kernel's; a 32-bit interpreter on a 64-bit kernel makes other calls,
    hence the pointer-size check."""
    arch = ARCHES.get(os.uname().machine)
    if arch is None or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    return arch


def program(arch: Arch, action: int = SECCOMP_RET_KILL_PROCESS) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions; jumps are relative to the next one.
    `action` is what an exec (or a call through another ABI) gets."""
    n = len(arch.exec_calls)
    # layout: 0 load arch, 1 check it, 2 load nr, 3..3+n-1 one test per call, then
    # ALLOW at 3+n and `action` at 4+n
    kill = 4 + n
    insns = [
        (BPF_LD_W_ABS, 0, 0, _OFFSET_ARCH),
        (BPF_JEQ_K, 0, kill - 2, arch.audit_arch),
        (BPF_LD_W_ABS, 0, 0, _OFFSET_NR),
    ]
    for i, nr in enumerate(arch.exec_calls):
        here = 3 + i
        insns.append((BPF_JEQ_K, kill - here - 1, 0, nr))
    insns.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    insns.append((BPF_RET_K, 0, 0, action))
    return insns


def program_bytes(arch: Arch) -> bytes:
    return b"".join(_INSN.pack(*insn) for insn in program(arch))


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


# The interpreter links libc: dlopen(NULL) finds prctl without ctypes.util (which would
# import subprocess).
_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.prctl.restype = ctypes.c_int
_libc.unshare.argtypes = [ctypes.c_int]
_libc.unshare.restype = ctypes.c_int


def _prctl(option: int, arg2: int, what: str) -> None:
    if _libc.prctl(option, arg2, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


CLONE_THREAD = 0x10000


def other_threads() -> bool | None:
    """Whether this process has threads besides the caller; None if nothing can tell
    (unshare filtered by another sandbox, and no /proc)."""
    if _libc.unshare(CLONE_THREAD) == 0:
        return False
    if ctypes.get_errno() == errno.EINVAL:
        return True
    try:
        return len(os.listdir("/proc/self/task")) > 1
    except OSError:
        return None


def _refuse_other_threads() -> None:
    threads = other_threads()
    if threads is None:
        raise OSError("cannot tell whether other threads run (unshare refused, no /proc): "
                      "a filter for this one alone might leave a hole")
    if threads:
        raise OSError("other threads run: a filter for this one alone would leave a hole")


def forbid_exec(*, refuse: bool = False) -> bool:
    """Make execve/execveat kill this process from now on, for good; with `refuse`, fail
    with EPERM instead (for a library that probes by running programs and copes with a
    refusal; the filters stack, so a later forbid_exec() still makes exec kill).

    True once the filter is in place; False (and nothing changed) on an architecture this
    module has no filter for. OSError if the process has other threads (or nothing can
    tell), or the kernel refuses (no seccomp, or prctl filtered)."""
    arch = native_arch()
    if arch is None:
        return False
    _refuse_other_threads()
    _install(program(arch, SECCOMP_RET_ERRNO | EPERM if refuse else SECCOMP_RET_KILL_PROCESS))
    return True


def no_more_exec(log: Logger, *, refuse: bool = False) -> bool:
    """forbid_exec() for a service's start-up: one debug line when done, a warning (and
    go on: the unit's own confinement still holds) when not. True if installed."""
    what = "refuse" if refuse else "forbid"
    try:
        done = forbid_exec(refuse=refuse)
    except OSError as exc:
        log.warning("cannot %s exec: %s", what, exc.strerror or exc)
        return False
    if not done:
        log.warning("cannot %s exec: no seccomp filter for %s", what, os.uname().machine)
        return False
    log.debug("exec is now %s", "refused" if refuse else "forbidden")
    return True


def send_program(arch: Arch, packet_fds: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """The filter of lock_sends, as (code, jt, jf, k); labels resolved to relative jumps."""
    bind, connect, sendto, sendmsg, sendmmsg = arch.net_calls
    code: list[tuple[int, int | str, int | str, int] | str] = [
        (BPF_LD_W_ABS, 0, 0, _OFFSET_ARCH),
        (BPF_JEQ_K, 0, "kill", arch.audit_arch),
        (BPF_LD_W_ABS, 0, 0, _OFFSET_NR),
        (BPF_JEQ_K, "deny", 0, bind),
        (BPF_JEQ_K, "deny", 0, connect),
        *[(BPF_JEQ_K, "deny", 0, nr) for nr in arch.fd_calls],
        (BPF_JEQ_K, "fcntl", 0, arch.fcntl),
        (BPF_JEQ_K, "setsockopt", 0, arch.setsockopt),
        (BPF_JEQ_K, "sendto", 0, sendto),
        (BPF_JEQ_K, "msg", 0, sendmsg),
        (BPF_JEQ_K, "msg", "allow", sendmmsg),
        "fcntl",
        (BPF_LD_W_ABS, 0, 0, _OFFSET_ARG1),
        (BPF_JEQ_K, "deny", 0, F_DUPFD),
        (BPF_JEQ_K, "deny", "allow", F_DUPFD_CLOEXEC),
        "setsockopt",
        (BPF_LD_W_ABS, 0, 0, _OFFSET_ARG1),
        (BPF_JEQ_K, "packet_option", 0, SOL_PACKET),
        (BPF_JEQ_K, 0, "allow", SOL_SOCKET),
        (BPF_LD_W_ABS, 0, 0, _OFFSET_ARG2),
        (BPF_JEQ_K, "deny", 0, SO_PASSCRED),
        (BPF_JEQ_K, "deny", "allow", SO_PASSPIDFD),
        # a packet socket's own options: PACKET_AUXDATA only (the checksum status io
        # reads). A ring, a fanout group or PACKET_ORIGDEV would go with the socket into
        # the FDSTORE and make every later io deaf, or take a VLAN's frames for the link's
        "packet_option",
        (BPF_LD_W_ABS, 0, 0, _OFFSET_ARG2),
        (BPF_JEQ_K, "allow", "deny", PACKET_AUXDATA),
        # sendmsg/sendmmsg carry their address inside a struct seccomp cannot read: never
        # on a packet socket
        "msg",
        (BPF_LD_W_ABS, 0, 0, _OFFSET_ARG0),
        *[(BPF_JEQ_K, "deny", 0, fd) for fd in packet_fds],
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        # sendto on a packet socket: only without an address (the bound interface)
        "sendto",
        (BPF_LD_W_ABS, 0, 0, _OFFSET_ARG0),
        *[(BPF_JEQ_K, "check_addr", 0, fd) for fd in packet_fds],
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        "check_addr",
        (BPF_LD_W_ABS, 0, 0, _OFFSET_ARG4),
        (BPF_JEQ_K, 0, "deny", 0),
        (BPF_LD_W_ABS, 0, 0, _OFFSET_ARG4 + 4),
        (BPF_JEQ_K, "allow", "deny", 0),
        "allow",
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        "deny",
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        "kill",
        (BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
    ]
    labels: dict[str, int] = {}
    insns: list[tuple[int, int | str, int | str, int]] = []
    for item in code:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)

    def rel(target: int | str, here: int) -> int:
        return target if isinstance(target, int) else labels[target] - here - 1

    return [(op, rel(jt, i), rel(jf, i), k) for i, (op, jt, jf, k) in enumerate(insns)]


def _install(insns: list[tuple[int, int, int, int]]) -> None:
    code = b"".join(_INSN.pack(*insn) for insn in insns)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // _INSN.size, ctypes.addressof(buf))
    _prctl(PR_SET_NO_NEW_PRIVS, 1, "no_new_privs")
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter: {os.strerror(err)}")


def lock_sends(packet_fds: tuple[int, ...]) -> bool:
    """For io once its sockets are set up: no bind or connect any more, and a packet socket
    sends only through send()/sendto() without an address, so only on the interface it
    is bound to (a compromised io could otherwise re-bind it, or send with another
    interface's address). The lock goes by fd number, so nothing may give a socket another
    number (Arch.fd_calls). Other sockets are unaffected. Refused calls fail with EPERM.
    True once installed; False on an architecture without numbers here."""
    arch = native_arch()
    if arch is None or not any(arch.net_calls):
        return False
    _refuse_other_threads()
    _install(send_program(arch, packet_fds))
    return True
