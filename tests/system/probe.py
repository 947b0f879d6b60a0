"""What a leasebox unit may do, seen from inside it: run AS the unit, report JSON.

    /usr/bin/python3 -I /usr/lib/leasebox-test/probe.py ROLE IFACE NONCE

test_confinement.py installs this into the container and starts leasebox-ROLE@IFACE.service
with only ExecStart= replaced (a drop-in), so the probe runs with everything else the real
daemon gets: user and groups, capabilities, namespaces, mounts, seccomp filters, socket fds.
It closes the fds it inherits, tries things, and prints one line
``LEASEBOX-PROBE {json}`` to stdout (the journal). Every check records what happened
("ok" or the errno name) rather than asserting: the test decides what is right.

io's and netconf's units mount no /proc, so what only /proc shows (the status with its
capability sets and seccomp filters, the mount table, the network namespace's devices)
is read by the test from outside, at /proc/PID, while the probe waits for SIGUSR1: once
after the checks above, and once more after it has installed the exec filter and printed
``LEASEBOX-PROBE-EXEC NONCE {json}``. Each wait ends by itself after WAIT seconds.

Stdlib only, plus leasebox.runtime.sandbox from the installed package for the exec check. Nothing
here may call a system call the units forbid outright (setrlimit, for one: ~@resources),
or the probe dies of SIGSYS before it reports.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

PR_SET_DUMPABLE = 4
NETLINK_ROUTE = 0
RTM_NEWADDR, RTM_DELADDR = 20, 21
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFA_ADDRESS, IFA_LOCAL = 1, 2
TEST_ADDRESS = "198.51.100.7"  # TEST-NET-2: never leased in the lab

WAIT = 150.0  # seconds the probe waits for the test's look at /proc/PID (3 roles in turn)
WRITE_DIRS = ("/", "/usr", "/etc", "/var", "/var/lib", "/var/tmp", "/tmp", "/run",
              "/run/leasebox/{iface}", "/run/leasebox-ipc/{iface}", "/dev", "/dev/shm",
              "/dev/mqueue",
              "/var/lib/leasebox/{iface}", "/run/leasebox-netconf/{iface}")
READ_FILES = ("/etc/shadow", "/proc/1/root/etc/shadow", "/proc/1/environ")

_libc = ctypes.CDLL(None, use_errno=True)


def outcome(fn: Callable[[], object]) -> str:
    """'ok', or what went wrong: the errno name for OSError, else the exception type."""
    try:
        fn()
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, "")
        return name or f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 (report whatever happened; the test judges)
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def close_inherited() -> int:
    """Close every fd above stderr: the unit's sockets (LISTEN_FDS), FDSTORE entries.
    (LimitNOFILE=256 in every unit, and no /proc/self/fd in io's and netconf's.)"""
    closed = 0
    for fd in range(3, 1024):
        try:
            os.close(fd)
            closed += 1
        except OSError:
            pass  # not open
    return closed


def wait_for_the_test() -> bool:
    """Until the test, done reading /proc/PID, sends SIGUSR1 (blocked at the start).
    False if WAIT ran out first."""
    return signal.sigtimedwait({signal.SIGUSR1}, WAIT) is not None


def try_socket(family: int, kind: int, proto: int = 0) -> str:
    def attempt() -> None:
        socket.socket(family, kind, proto).close()
    return outcome(attempt)


def try_write(directory: str, nonce: str) -> str:
    def attempt() -> None:
        path = os.path.join(directory, f".probe-{nonce}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        os.close(fd)
        os.unlink(path)
    return outcome(attempt)


def try_read(path: str) -> str:
    def attempt() -> None:
        with open(path, "rb") as f:
            f.read(1)
    return outcome(attempt)


def rtnl_addr(kind: int, ifindex: int, address: str) -> str:
    """Send RTM_NEWADDR/RTM_DELADDR for address/32 and return the kernel's answer."""
    flags = NLM_F_REQUEST | NLM_F_ACK
    if kind == RTM_NEWADDR:
        flags |= NLM_F_CREATE | NLM_F_EXCL
    raw = socket.inet_aton(address)
    body = struct.pack("=BBBBI", socket.AF_INET, 32, 0, 0, ifindex)
    body += struct.pack("=HH4s", 8, IFA_LOCAL, raw) + struct.pack("=HH4s", 8, IFA_ADDRESS, raw)
    msg = struct.pack("=IHHII", 16 + len(body), kind, flags, 1, 0) + body
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as s:
            s.settimeout(5)
            s.sendto(msg, (0, 0))
            reply = s.recv(65536)
    except OSError as exc:
        return f"socket: {errno.errorcode.get(exc.errno or 0, str(exc))}"
    _length, mtype = struct.unpack_from("=IH", reply)
    if mtype != NLMSG_ERROR:
        return f"unexpected reply type {mtype}"
    (err,) = struct.unpack_from("=i", reply, 16)
    return "ok" if err == 0 else errno.errorcode.get(-err, str(err))


def exec_in_child(argv: list[str]) -> str:
    """Fork; the child tries execv(argv). 'exit N' or the signal's name that ended it."""
    pid = os.fork()
    if pid == 0:
        try:
            _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no core file if SIGSYS kills it
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, wstatus = os.waitpid(pid, 0)
    if os.WIFSIGNALED(wstatus):
        return signal.Signals(os.WTERMSIG(wstatus)).name
    return f"exit {os.WEXITSTATUS(wstatus)}"


def try_kill() -> str:
    """Send SIGKILL to a child of our own: 'ok', or the errno the filter answers."""
    pid = os.fork()
    if pid == 0:
        time.sleep(2)  # ends by itself if it cannot be killed
        os._exit(0)
    try:
        os.kill(pid, signal.SIGKILL)
        result = "ok"
    except OSError as exc:
        result = errno.errorcode.get(exc.errno or 0, str(exc))
    os.waitpid(pid, 0)
    return result


def probe(role: str, iface: str, nonce: str) -> dict[str, Any]:
    r: dict[str, Any] = {"role": role, "nonce": nonce, "pid": os.getpid()}
    r["closed_fds"] = close_inherited()
    r["uid"], r["euid"], r["gid"], r["egid"] = os.getuid(), os.geteuid(), os.getgid(), os.getegid()
    r["groups"] = sorted(os.getgroups())
    r["proc_self"] = try_read("/proc/self/status")
    r["sockets"] = {
        "AF_INET": try_socket(socket.AF_INET, socket.SOCK_DGRAM),
        "AF_INET6": try_socket(socket.AF_INET6, socket.SOCK_DGRAM),
        "AF_PACKET": try_socket(socket.AF_PACKET, socket.SOCK_RAW),
        "AF_NETLINK": try_socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE),
        "AF_UNIX": try_socket(socket.AF_UNIX, socket.SOCK_SEQPACKET),
    }
    try:
        r["sys_class_net"] = sorted(os.listdir("/sys/class/net"))
    except OSError as exc:
        r["sys_class_net"] = errno.errorcode.get(exc.errno or 0, str(exc))
    r["reads"] = {path: try_read(path) for path in READ_FILES}
    for name, path in (("ipc_dir", f"/run/leasebox-ipc/{iface}"),
                       ("run_dir", f"/run/leasebox/{iface}")):
        try:  # which of the sockets between the processes the unit can see
            r[name] = sorted(os.listdir(path))
        except OSError as exc:
            r[name] = errno.errorcode.get(exc.errno or 0, str(exc))
            continue
        # bound as a file, the socket is on the host's /run and its directory on the
        # unit's own: two file systems (a bound directory would put both on the host's)
        r[name + "_file_bound"] = {n: os.stat(f"{path}/{n}").st_dev != os.stat(path).st_dev
                                   for n in r[name]}
    dirs = [d.format(iface=iface) for d in WRITE_DIRS]
    r["writes"] = {d: try_write(d, nonce) for d in dirs}
    try:
        with open(f"/sys/class/net/{iface}/ifindex", encoding="ascii") as f:
            ifindex = int(f.read())
    except OSError:
        ifindex = 0  # not visible (the engine): the request still tests the permission
    r["ifindex"] = ifindex
    r["kill"] = try_kill()
    r["rtm_newaddr"] = rtnl_addr(RTM_NEWADDR, ifindex or 1, TEST_ADDRESS)
    if r["rtm_newaddr"] == "ok":
        r["rtm_deladdr"] = rtnl_addr(RTM_DELADDR, ifindex or 1, TEST_ADDRESS)
    # exec: works before (so the SIGSYS below is the filter's doing), then forbidden
    r["exec_before"] = exec_in_child(["/bin/sh", "-c", "exit 3"])
    return r


def probe_exec() -> dict[str, Any]:
    r: dict[str, Any] = {}
    try:
        from leasebox.runtime import sandbox

        r["other_threads"] = sandbox.other_threads()  # None: the kernel did not tell
        r["forbid_exec"] = sandbox.forbid_exec()
    except Exception as exc:  # noqa: BLE001 (reported)
        r["forbid_exec"] = f"{type(exc).__name__}: {exc}"
    r["exec_after"] = exec_in_child(["/bin/sh", "-c", "exit 3"])
    return r


def main() -> int:
    role, iface, nonce = sys.argv[1:4]
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        result = probe(role, iface, nonce)
    except Exception as exc:  # noqa: BLE001 (a report, whatever happens)
        result = {"role": role, "nonce": nonce, "pid": os.getpid(),
                  "error": f"{type(exc).__name__}: {exc}"}
    print("LEASEBOX-PROBE " + json.dumps(result, sort_keys=True), flush=True)
    signalled = wait_for_the_test()
    result = {"signalled": signalled, **probe_exec()}
    print(f"LEASEBOX-PROBE-EXEC {nonce} " + json.dumps(result, sort_keys=True), flush=True)
    wait_for_the_test()
    return 0


if __name__ == "__main__":
    sys.exit(main())
