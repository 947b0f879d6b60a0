"""leasebox.runtime.sandbox.forbid_exec: no root needed (no_new_privs lets anyone add a filter).

Every filter is installed in a child interpreter, never in the pytest process: a filter
cannot be removed, and this process still has tests to run that exec things.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from leasebox.core.log import DEBUG, WARNING, Logger
from leasebox.runtime import sandbox
from tests.conftest import Logs

SRC = Path(__file__).resolve().parents[1] / "src"

pytestmark = pytest.mark.skipif(sandbox.native_arch() is None,
                                reason="no exec filter for this architecture")

# Run in the child before the test's own code: the package on the path, no core file
# when SIGSYS kills it, and a helper to read the filter count.
PRELUDE = textwrap.dedent("""
    import json, os, resource, sys
    sys.path.insert(0, {src!r})
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    from leasebox.runtime import sandbox
    def filters():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Seccomp_filters:"):
                    return int(line.split()[1])
        return -1

    def report(**kw):
        print(json.dumps(kw), flush=True)
""")


def child(code: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    """Run `code` after PRELUDE in a fresh interpreter; (returncode, merged reports)."""
    script = PRELUDE.format(src=str(SRC)) + textwrap.dedent(code)
    r = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
    merged: dict[str, Any] = {}
    for line in r.stdout.splitlines():
        merged.update(json.loads(line))
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, merged


def own_filters() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Seccomp_filters:"):
            return int(line.split()[1])
    raise AssertionError("no Seccomp_filters line in /proc/self/status")


def test_exec_after_forbid_exec_dies_of_sigsys_parent_unaffected(tmp_path: Path) -> None:
    before = own_filters()
    rc, out = child("""
        n = filters()
        done = sandbox.forbid_exec()
        report(before=n, done=done, after=filters())
        os.execv("/bin/true", ["true"])
        report(survived=True)
    """, tmp_path)
    assert rc == -signal.SIGSYS
    assert out["done"] is True
    assert out["after"] == out["before"] + 1
    assert "survived" not in out
    # the parent: same filters as before, and exec works
    assert own_filters() == before
    assert subprocess.run(["/bin/true"], check=False, timeout=10).returncode == 0
    assert not list(tmp_path.iterdir()), "the SIGSYS left a core file"


def test_refuse_makes_exec_fail_with_eperm_and_a_later_forbid_still_kills(
        tmp_path: Path) -> None:
    rc, out = child("""
        import errno, subprocess
        n = filters()
        done = sandbox.forbid_exec(refuse=True)
        try:
            subprocess.run(["/bin/true"], check=False)
            report(spawned=True)
        except PermissionError as exc:
            report(refused=exc.errno == errno.EPERM)
        report(done=done, added=filters() - n)
        sandbox.forbid_exec()
        os.execv("/bin/true", ["true"])
        report(survived=True)
    """, tmp_path)
    assert out == {"refused": True, "done": True, "added": 1}
    assert rc == -signal.SIGSYS


def test_everything_else_still_works_and_children_inherit_the_filter(tmp_path: Path) -> None:
    rc, out = child("""
        import signal, socket
        sandbox.forbid_exec()
        with open("f", "w") as f:
            f.write("x")
        a, b = socket.socketpair()
        a.send(b"ok")
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        _, plain = os.waitpid(pid, 0)
        pid = os.fork()
        if pid == 0:
            os.execv("/bin/sh", ["sh", "-c", "exit 0"])
        _, execd = os.waitpid(pid, 0)
        report(read=open("f").read(), sock=b.recv(2).decode(),
               plain=os.waitstatus_to_exitcode(plain),
               execd=os.waitstatus_to_exitcode(execd))
    """, tmp_path)
    assert rc == 0
    assert out == {"read": "x", "sock": "ok", "plain": 7, "execd": -signal.SIGSYS}


def test_execveat_is_killed_too(tmp_path: Path) -> None:
    rc, out = child("""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        arch = sandbox.native_arch()
        execveat = arch.exec_calls[1]
        argv = (ctypes.c_char_p * 2)(b"true", None)
        envp = (ctypes.c_char_p * 1)(None)
        sandbox.forbid_exec()
        report(nr=execveat)
        libc.syscall(execveat, -100, b"/bin/true", argv, envp, 0)  # AT_FDCWD
        report(survived=True)
    """, tmp_path)
    assert rc == -signal.SIGSYS
    assert "survived" not in out


def test_a_process_with_threads_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    rc, out = child("""
        import threading
        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
        n = filters()
        try:
            sandbox.forbid_exec()
            report(error=None)
        except OSError as exc:
            report(error=str(exc))
        report(added=filters() - n)
        stop.set()
        t.join()
        os.execv("/bin/true", ["true"])
    """, tmp_path)
    assert rc == 0, "exec must still work when the filter was refused"
    assert out["added"] == 0
    assert "other threads run" in out["error"]


def test_other_threads_is_told_by_the_kernel_without_proc(tmp_path: Path) -> None:
    """io's and netconf's units mount no /proc: the answer must not come from there."""
    rc, out = child("""
        import threading
        real_listdir = os.listdir
        def no_proc(path="."):
            if str(path).startswith("/proc"):
                raise PermissionError(13, "no /proc here", path)
            return real_listdir(path)
        os.listdir = no_proc
        report(alone=sandbox.other_threads())
        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
        report(with_thread=sandbox.other_threads())
        stop.set()
        t.join()
    """, tmp_path)
    assert rc == 0
    if out["alone"] is None:
        pytest.skip("unshare(2) is filtered where these tests run")
    assert out == {"alone": False, "with_thread": True}


def test_a_process_that_cannot_tell_its_threads_is_refused(tmp_path: Path) -> None:
    rc, out = child("""
        sandbox.other_threads = lambda: None  # unshare refused, and no /proc
        n = filters()
        for name, install in (("exec", sandbox.forbid_exec),
                              ("sends", lambda: sandbox.lock_sends((0,)))):
            try:
                install()
                report(**{name: None})
            except OSError as exc:
                report(**{name: str(exc)})
        report(added=filters() - n)
        os.execv("/bin/true", ["true"])
    """, tmp_path)
    assert rc == 0, "exec must still work when the filter was refused"
    assert out["added"] == 0
    assert "cannot tell whether other threads run" in out["exec"]
    assert "cannot tell whether other threads run" in out["sends"]


def test_unknown_architecture_returns_false_and_installs_nothing(tmp_path: Path) -> None:
    rc, out = child("""
        sandbox.native_arch = lambda: None
        n = filters()
        report(done=sandbox.forbid_exec(), added=filters() - n)
        os.execv("/bin/true", ["true"])
    """, tmp_path)
    assert rc == 0
    assert out == {"done": False, "added": 0}


class _Uname:
    def __init__(self, machine: str) -> None:
        self.machine = machine


@pytest.mark.parametrize(("machine", "known"), [("x86_64", True), ("aarch64", True),
                                                ("riscv64", False), ("armv7l", False)])
def test_native_arch(monkeypatch: pytest.MonkeyPatch, machine: str, known: bool) -> None:
    monkeypatch.setattr(os, "uname", lambda: _Uname(machine))
    arch = sandbox.native_arch()
    assert (arch is not None) == known
    if arch is not None:
        assert arch.name == machine


# ---- the program itself, run by a small classic-BPF interpreter ------------------------------

def run_bpf(code: bytes, nr: int, arch: int) -> int:
    data = struct.pack("=iIQ6Q", nr, arch, 0, *([0] * 6))
    insns = [struct.unpack_from("=HBBI", code, off) for off in range(0, len(code), 8)]
    pc, acc = 0, 0
    for _ in range(len(insns)):  # no backward jumps in classic BPF: bounded
        op, jt, jf, k = insns[pc]
        if op == sandbox.BPF_LD_W_ABS:
            (acc,) = struct.unpack_from("=I", data, k)
            pc += 1
        elif op == sandbox.BPF_JEQ_K:
            pc += 1 + (jt if acc == k else jf)
        elif op == sandbox.BPF_RET_K:
            return int(k)
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
    raise AssertionError("ran off the end of the program")


KILL, ALLOW = sandbox.SECCOMP_RET_KILL_PROCESS, sandbox.SECCOMP_RET_ALLOW
AUDIT_ARCH_I386 = 0x40000003


@pytest.mark.parametrize(("arch_name", "nr", "audit_arch", "expected"), [
    ("x86_64", 59, None, KILL),                     # execve
    ("x86_64", 322, None, KILL),                    # execveat
    ("x86_64", 0x40000000 | 520, None, KILL),       # x32 execve
    ("x86_64", 0x40000000 | 545, None, KILL),       # x32 execveat
    ("x86_64", 0, None, ALLOW),                     # read
    ("x86_64", 57, None, ALLOW),                    # fork
    ("x86_64", 0x40000000 | 0, None, ALLOW),        # x32 read: left to systemd's filter
    ("x86_64", -1, None, ALLOW),
    ("x86_64", 11, AUDIT_ARCH_I386, KILL),          # i386 execve via int 0x80
    ("x86_64", 3, AUDIT_ARCH_I386, KILL),           # any foreign-ABI call
    ("aarch64", 221, None, KILL),
    ("aarch64", 281, None, KILL),
    ("aarch64", 59, None, ALLOW),
    ("aarch64", 63, None, ALLOW),                   # read
    ("aarch64", 11, 0x40000028, KILL),              # arm32 (AUDIT_ARCH_ARM)
])
def test_program_decisions(arch_name: str, nr: int, audit_arch: int | None,
                           expected: int) -> None:
    arch = sandbox.ARCHES[arch_name]
    code = sandbox.program_bytes(arch)
    got = run_bpf(code, nr, arch.audit_arch if audit_arch is None else audit_arch)
    assert got == expected


# ---- no_more_exec: what the services log ------------------------------------------------------

@pytest.mark.parametrize(("refuse", "outcome", "expected"), [
    (False, True, (DEBUG, "exec is now forbidden", True)),
    (False, False, (WARNING, "cannot forbid exec: no seccomp filter for", False)),
    (False, OSError(1, "Operation not permitted"),
     (WARNING, "cannot forbid exec: Operation not permitted", False)),
    (True, True, (DEBUG, "exec is now refused", True)),
    (True, OSError(1, "Operation not permitted"),
     (WARNING, "cannot refuse exec: Operation not permitted", False)),
])
def test_no_more_exec_logs_and_goes_on(monkeypatch: pytest.MonkeyPatch,
                                       logs: Logs, refuse: bool,
                                       outcome: object,
                                       expected: tuple[int, str, bool]) -> None:
    level, text, result = expected
    asked: list[bool] = []

    def fake(*, refuse: bool = False) -> bool:
        asked.append(refuse)
        if isinstance(outcome, OSError):
            raise outcome
        assert isinstance(outcome, bool)
        return outcome

    monkeypatch.setattr(sandbox, "forbid_exec", fake)
    log = Logger("leasebox.test-sandbox")
    assert sandbox.no_more_exec(log, refuse=refuse) is result
    assert asked == [refuse]
    assert [(r.level, r.message[:len(text)]) for r in logs.records] == [(level, text)]
