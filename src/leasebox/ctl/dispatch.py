"""leaseboxctl dispatch IFACE: run the administrator's hooks for each queued lease event.

The ExecStart= of leasebox-dispatch@IFACE.service, which leasebox-dispatch@IFACE.path
starts when the engine has queued events (STATE_DIR/IFACE/events/*.json, see
leasebox.engine.events). Each file is read as untrusted input (the engine parses the
network): a fixed set of keys, every value checked again, or the event is dropped with an
error line. Then the executables in /etc/leasebox/dispatch.d, /run/leasebox-conf/dispatch.d
and /usr/lib/leasebox/dispatch.d run in the order of their names (a name in an earlier
directory hides the same name in a later one; a link to /dev/null hides it for good), one
after the other, each with the event in LEASEBOX_* environment variables and a time limit.
A hook's failure is logged and changes nothing else: the lease is the engine's business.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from leasebox.core.events import HOOK_DIRS, boot_id, hook_name
from leasebox.core.names import hostname_problem
from leasebox.core.values import MAX_ROUTES
from leasebox.core.wire.strings import portal_problem
from leasebox.ctl import waitonline
from leasebox.ctl.commands import CtlError, _checked, terminal_safe

EVENTS = frozenset({"bound", "changed", "renewed", "released", "left", "lost", "declined",
                    "refused", "failed", "renew-failed"})
# The hooks of these run once the lease's DNS is with its resolver, as wait-online waits
# for it, or after DNS_WAIT: netconf answers the engine (which queues the event) before it
# hands the DNS on, and a hook at "bound" (a dynamic DNS update, a mount) resolves names.
DNS_EVENTS = frozenset({"bound", "changed", "renewed"})
DNS_WAIT = waitonline.DNS_GRACE
DNS_POLL = 0.05
MACHINE_LOCK = ".hooks.lock"  # in the state directory, above each interface's
LOCK_WAIT = 120.0  # seconds an event's hooks wait for another interface's at least
KEYS = frozenset({"event", "interface", "address", "prefixlen", "gateway", "server", "dns",
                  "domains", "ntp", "mtu", "lease_time"})
# old_address: "changed" only; boot: when the engine was given its boot ID; hostname: when
# the server sent option 12; the rest, what an engine before 2026-12-06 did not write (the
# dispatcher may be newer than the engine whose events wait, in an upgrade): all or none
OPTIONAL_KEYS = frozenset({"old_address", "boot", "hostname", "captive_portal"})
LATER_KEYS = frozenset({"routers", "routes", "broadcast", "domain_name", "search",
                        "renewal_time", "rebinding_time"})
# the lease's start and end on the wall clock: written by engines since the later keys,
# all or none of them, checked apart
TIME_KEYS = frozenset({"acquired", "expires"})
MAX_TIME = 1 << 40  # seconds since the epoch: far beyond any clock's date
BOOT_ID = "/proc/sys/kernel/random/boot_id"
MAX_FILE = 1 << 15  # an event with every list at its bound, longest names, is ~20 KiB
MAX_ITEMS = 32
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STUCK_PAUSE = 5.0  # seconds before a run that left entries on the queue ends (see there)
MAX_HIDDEN = 10  # hidden names a stray directory may take (.stray-NAME, .stray-NAME.1 ...)
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for a hook past its time limit
HOOK_OWNER = 0  # root: hooks run as root (the tests, without root, set their own uid)
WALK_UP_TO = Path("/")  # the directories checked: from a hook's real path up to this one


class BadEvent(Exception):
    pass


class EarlierBoot(Exception):
    """An event queued in an earlier boot, as the system went down: stale, not run."""


def this_boot() -> str | None:
    try:
        with open(BOOT_ID, encoding="ascii") as f:
            return boot_id(f.read())
    except (OSError, ValueError):
        return None


def _address(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadEvent(f"{what} is not a string")
    try:
        return str(IPv4Address(value))
    except ValueError:
        raise BadEvent(f"{what} is not an IPv4 address") from None


def _int(value: Any, low: int, high: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadEvent(f"{what} is not an integer {low}..{high}")
    return value


def _list(value: Any, what: str, most: int = MAX_ITEMS) -> list[Any]:
    if not isinstance(value, list) or len(value) > most:
        raise BadEvent(f"{what} is not a list of at most {most}")
    return value


def environment(doc: Any, interface: str, boot: str | None = None) -> dict[str, str]:
    """The hooks' LEASEBOX_* variables from one event file's JSON, checked field by field;
    raises EarlierBoot for an event of another boot than `boot` (this one's, if known)."""
    keys = set(doc) - OPTIONAL_KEYS if isinstance(doc, dict) else set()
    times = TIME_KEYS <= keys
    if not isinstance(doc, dict) or keys - (TIME_KEYS if times else set()) not in (
            KEYS, KEYS | LATER_KEYS):
        raise BadEvent("not an object with exactly the event keys")
    if "boot" in doc:
        if not isinstance(doc["boot"], str) or boot_id(doc["boot"]) != doc["boot"]:
            raise BadEvent("boot is not a boot ID")
        if boot is not None and doc["boot"] != boot:
            raise EarlierBoot
    old = None
    if "old_address" in doc:
        if doc["event"] != "changed":
            raise BadEvent("an old address in an event other than changed")
        old = _address(doc["old_address"], "old_address")
    if not isinstance(doc["event"], str) or doc["event"] not in EVENTS:
        raise BadEvent("unknown event")
    if doc["interface"] != interface:
        raise BadEvent("an event of another interface")
    domains = []
    for name in _list(doc["domains"], "domains"):
        if not isinstance(name, str) or hostname_problem(name):
            raise BadEvent("domains holds a name that is not one")
        domains.append(name)
    gateway = doc["gateway"]
    mtu = doc["mtu"]
    return {
        "LEASEBOX_EVENT": doc["event"],
        "LEASEBOX_INTERFACE": interface,
        "LEASEBOX_ADDRESS": _address(doc["address"], "address"),
        "LEASEBOX_PREFIXLEN": str(_int(doc["prefixlen"], 0, 32, "prefixlen")),
        "LEASEBOX_GATEWAY": "" if gateway is None else _address(gateway, "gateway"),
        "LEASEBOX_SERVER": _address(doc["server"], "server"),
        "LEASEBOX_DNS": " ".join(_address(a, "dns") for a in _list(doc["dns"], "dns")),
        "LEASEBOX_DOMAINS": " ".join(domains),
        "LEASEBOX_NTP": " ".join(_address(a, "ntp") for a in _list(doc["ntp"], "ntp")),
        "LEASEBOX_MTU": "" if mtu is None else str(_int(mtu, 68, 65535, "mtu")),
        "LEASEBOX_LEASE_TIME": str(_int(doc["lease_time"], 0, 0xFFFFFFFF, "lease_time")),
        "LEASEBOX_OLD_ADDRESS": old or "",
        "LEASEBOX_HOSTNAME": _name(doc["hostname"], "hostname") if "hostname" in doc else "",
        "LEASEBOX_CAPTIVE_PORTAL": _portal(doc["captive_portal"]) if "captive_portal" in doc
        else "",
        **_later(doc),
        **(_times(doc) if times else {}),
    }


def _times(doc: dict[str, Any]) -> dict[str, str]:
    """The lease's start and end, as seconds since the epoch (an infinite lease has none)."""
    start = _int(doc["acquired"], 0, MAX_TIME, "acquired")
    expires = doc["expires"]  # not before the start
    return {"LEASEBOX_ACQUIRED": str(start), "LEASEBOX_EXPIRES": "" if expires is None
            else str(_int(expires, start, MAX_TIME, "expires"))}


def _portal(value: Any) -> str:
    """Option 114 as the engine took it: an https URI of safe characters (RFC 8910)."""
    if not isinstance(value, str) or portal_problem(value):
        raise BadEvent("captive_portal is not an https URI of safe characters")
    return value


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or hostname_problem(value):
        raise BadEvent(f"{what} holds a name that is not one")
    return value


def _route(value: Any) -> str:
    """One option-121 route as DEST/LEN,GATEWAY."""
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
        raise BadEvent("routes holds an item that is not [destination, gateway]")
    try:
        destination = IPv4Network(value[0])
    except ValueError:
        raise BadEvent("routes holds a destination that is not an IPv4 network") from None
    return f"{destination},{_address(value[1], 'routes')}"


def _later(doc: dict[str, Any]) -> dict[str, str]:
    """The variables of the keys engines write since 2026-12-06 (empty without them)."""
    if "routers" not in doc:
        return {}
    routes, broadcast, name = doc["routes"], doc["broadcast"], doc["domain_name"]
    return {
        "LEASEBOX_ROUTERS": " ".join(_address(a, "routers") for a in _list(doc["routers"],
                                                                             "routers")),
        "LEASEBOX_ROUTES": "" if routes is None else " ".join(
            _route(r) for r in _list(routes, "routes", MAX_ROUTES)),
        "LEASEBOX_BROADCAST": "" if broadcast is None else _address(broadcast, "broadcast"),
        "LEASEBOX_DOMAIN_NAME": "" if name is None else _name(name, "domain_name"),
        "LEASEBOX_SEARCH": " ".join(_name(n, "search") for n in _list(doc["search"], "search")),
        "LEASEBOX_RENEWAL_TIME": str(_int(doc["renewal_time"], 0, 0xFFFFFFFF, "renewal_time")),
        "LEASEBOX_REBINDING_TIME": str(_int(doc["rebinding_time"], 0, 0xFFFFFFFF,
                                            "rebinding_time")),
    }


def hooks(dirs: tuple[str, ...] | None = None) -> list[Path]:
    """The executables to run, by name; earlier directories win, /dev/null masks. Hidden
    names and backup copies are not hooks; a hook that someone other than root could
    change is refused (it would run as root), with a line saying so."""
    chosen: dict[str, Path] = {}
    for directory in HOOK_DIRS if dirs is None else dirs:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if name in chosen or not hook_name(name):
                continue
            path = Path(directory) / name
            chosen[name] = path
    out = []
    for name in sorted(chosen):
        path = chosen[name]
        if path.is_symlink() and os.path.realpath(path) == "/dev/null":
            continue
        if not (path.is_file() and os.access(path, os.X_OK)):
            if path.is_file():  # a forgotten chmod +x, most often: said (a directory not)
                print(terminal_safe(f"<6>leaseboxctl: not running {path}: not executable"),
                      file=sys.stderr, flush=True)
            elif path.is_symlink() and not path.exists():  # (it still hides a later one)
                print(terminal_safe(f"<4>leaseboxctl: not running {path}: a link to "
                                    f"{os.readlink(path)}, which is not there"),
                      file=sys.stderr, flush=True)
            continue
        problem = _unsafe(path)
        if problem:
            print(terminal_safe(f"<4>leaseboxctl: not running {path}: {problem}"),
                  file=sys.stderr, flush=True)
            continue
        out.append(path)
    return out


MAX_HOPS = 40  # symbolic links followed from a hook to its file, as the kernel's limit


def _unsafe(path: Path) -> str:
    """Why root must not run the file `path` resolves to, or "": it, each directory on the
    way to it, and each directory that holds a link on that way (whoever may write there
    may point the link elsewhere) must be root's and not writable by others, and it not
    set-user-ID."""
    try:
        real, holders = _resolve(str(path))
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    problem = _unsafe_step(Path(real), Path(real))
    for directory in dict.fromkeys((os.path.dirname(real), *holders)):
        problem = problem or _unsafe_directories(Path(directory))
    return problem


def _resolve(path: str) -> tuple[str, list[str]]:
    """The real path of `path`, resolved one name at a time as the kernel does (".."
    after the links before it, not on the text), and the real directories that hold a
    symbolic link on the way."""
    pending = list(reversed(os.path.join(os.getcwd(), path).split("/")))
    current, holders, hops = "/", [], 0
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":  # left again: whoever may write it could make `name` a link
            holders.append(current)
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        if not os.path.islink(candidate):
            current = candidate
            continue
        hops += 1
        if hops > MAX_HOPS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
        holders.append(current)
        target = os.readlink(candidate)
        if target.startswith("/"):
            current = "/"
        pending.extend(reversed(target.split("/")))
    return current, holders


def _unsafe_directories(directory: Path) -> str:
    """Why `directory` or one above it (up to WALK_UP_TO) is unsafe, or ""."""
    for step in (directory, *directory.parents):
        problem = _unsafe_step(step, None)
        if problem or step == WALK_UP_TO:
            return problem
    return ""


def _unsafe_step(step: Path, real: Path | None) -> str:
    """Why `step`, the hook's file `real` or a directory on the way (real None), is unsafe."""
    try:
        st = step.stat()
    except OSError as exc:
        return f"{step}: {exc.strerror or exc}"
    what = "" if real is not None else f"its directory {step} is "
    if st.st_uid != HOOK_OWNER:
        return f"{what}owned by uid {st.st_uid}, not root"
    # group or others may write: not a sticky directory (/tmp) either, where they may
    # not replace root's file but may add their own
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{what}writable by its group or by others"
    if real is not None and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
        return "set-user-ID or set-group-ID"
    return ""


def _read_at(queue: int, name: str) -> Any:
    """The event file `name` in the directory open as `queue`: a regular file, not a link."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                 dir_fd=queue)
    try:  # checked before fdopen, which refuses a directory and would leave fd open
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BadEvent("not a regular file")
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        return decode_event(handle.read(MAX_FILE + 1))


def decode_event(data: bytes) -> Any:
    """An event file's JSON document (checked by `environment`); raises BadEvent."""
    if len(data) > MAX_FILE:
        raise BadEvent(f"larger than {MAX_FILE} octets")
    if not data:  # the engine does not sync its events to disk (engine.events)
        raise BadEvent("empty: written just before a crash or power loss")
    try:
        return json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested past the stack
        raise BadEvent("not ASCII JSON") from None


def _say(text: str) -> None:
    print(terminal_safe(text), flush=True)


def _run_hook(hook: Path, env: dict[str, str], timeout: float) -> int | str:
    """The hook's exit status, or why it has none. Its own process group: at the time
    limit, SIGTERM goes to what it started too (a curl, a sleep), then SIGKILL after
    KILL_GRACE, so nothing of it runs on beside the next hook or event."""
    try:
        proc = subprocess.Popen([str(hook), env["LEASEBOX_EVENT"]], env={"PATH": PATH, **env},
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        return f"not run: {exc.strerror}"
    try:
        return proc.wait(timeout=timeout or None)  # 0: no limit
    except subprocess.TimeoutExpired:
        pass
    _killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        pass
    # whatever the hook did with its SIGTERM, what it started may have ignored its own
    _killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:  # stuck in the kernel (a hung NFS mount): the next
        # hooks and events do not wait for it, nor does the machine's hooks lock
        return f"killed after {timeout:g} s, and still not gone {KILL_GRACE:g} s later"
    return f"killed after {timeout:g} s"


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def run_hooks(env: dict[str, str], found: list[Path], timeout: float) -> int:
    failures = 0
    for hook in found:
        started = time.monotonic()
        code = _run_hook(hook, env, timeout)
        took = time.monotonic() - started
        if code != 0:
            failures += 1
        # a failure at warning priority (the journal reads the <4> prefix of a line)
        _say(f"{'' if code == 0 else '<4>'}{hook} {env['LEASEBOX_EVENT']} "
             f"{env['LEASEBOX_ADDRESS']}: {'ok' if code == 0 else f'failed ({code})'} "
             f"in {took:.2f} s")
    return failures


def _remove_stray(queue: int, name: str) -> bool:
    """Remove (a directory: hide) what is not an event file (only a bad engine puts one
    there): left, it would keep the path unit's DirectoryNotEmpty= true, and the dispatcher
    started for ever. False if it is still there."""
    print(terminal_safe(f"<4>leaseboxctl: removing {name} from the event queue: not an "
                        "event file"), file=sys.stderr, flush=True)
    try:
        try:
            os.unlink(name, dir_fd=queue)
        except IsADirectoryError:
            # Not walked as root (what the engine put there could block a walk): hidden,
            # which the path unit and the dispatcher pass over, for the engine to see.
            _hide(queue, name)
    except FileNotFoundError:
        pass
    except OSError as exc:
        print(terminal_safe(f"leaseboxctl: cannot remove {name}: {exc.strerror or exc}"),
              file=sys.stderr, flush=True)
        return False
    return True


def _hide(queue: int, name: str) -> None:
    """Rename `name` to a hidden name not yet taken (an earlier stray may have the first)."""
    for n in range(MAX_HIDDEN):
        try:
            os.rename(name, f".stray-{name}" + (f".{n}" if n else ""),
                      src_dir_fd=queue, dst_dir_fd=queue)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                raise
    raise OSError(errno.EEXIST, f"its {MAX_HIDDEN} hidden names are taken")


def _pause_if_stuck(stuck: bool) -> None:
    """What this run could not take off the queue starts it again at once (the path unit),
    for as long as it stays: a pause between two runs, not a root process a few ms apart."""
    if stuck:
        print(terminal_safe(f"<4>leaseboxctl: the event queue keeps what could not be "
                            f"removed: next look in {STUCK_PAUSE:g} s"),
              file=sys.stderr, flush=True)
        time.sleep(STUCK_PAUSE)


def _open_queue(path: str) -> int | None:
    """The event directory, not followed if a link (the engine owns its state directory:
    it could make "events" a link to any directory, whose .json files root would then read
    and delete). A link is removed, which the engine replaces with its directory: left,
    the path unit, which follows it, would start the dispatcher for ever."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        why = " (a link or a file where the engine's event directory belongs)" \
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) else ""  # (EACCES: not root)
        print(terminal_safe(f"leaseboxctl: not reading {path}: {exc.strerror or exc}{why}"),
              file=sys.stderr, flush=True)
        if os.path.islink(path):
            try:
                os.unlink(path)
            except OSError as err:
                print(terminal_safe(f"leaseboxctl: cannot remove {path}: "
                                    f"{err.strerror or err}"), file=sys.stderr, flush=True)
                _pause_if_stuck(True)
        raise


def _sync(queue: int) -> None:
    """Make the removal from the queue last; a failure only makes it less sure (a crash
    may bring the event back), and the event, taken, still runs."""
    try:
        os.fsync(queue)
    except OSError as exc:
        print(terminal_safe(f"<4>leaseboxctl: cannot sync the event queue: "
                            f"{exc.strerror or exc}"), file=sys.stderr, flush=True)


def _event(queue: int, name: str, interface: str, boot: str | None) -> dict[str, str] | None:
    """The hooks' environment for the event file `name`, or None (said why) for one that
    is not run; raises FileNotFoundError if it is gone."""
    try:
        return environment(_read_at(queue, name), interface, boot)
    except EarlierBoot:
        print(terminal_safe(f"leaseboxctl: skipped event {name}: queued in an earlier boot "
                            "(as the system went down, when no hook runs)"), flush=True)
    except FileNotFoundError:
        raise
    except (BadEvent, OSError) as exc:
        reason = (exc.strerror or exc) if isinstance(exc, OSError) else exc
        print(terminal_safe(f"leaseboxctl: dropped event {name}: {reason}"),
              file=sys.stderr, flush=True)
    return None


def _lock(queue: int, interface: str) -> bool:
    """One dispatcher at a time (the path unit's, one run by hand): two read an event before
    either took it, and ran the hooks twice and out of order. Another at work is left the
    queue, not waited for (its hooks may take long, or have no time limit): what it did not
    list, the path unit gives the next run. False: leave the queue alone."""
    try:
        fcntl.flock(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        # the path unit starts this again at once while events wait: a pause between two
        # runs (the other may hold the lock long), not a root process a few ms apart
        print(terminal_safe(f"leaseboxctl: another dispatcher is at work on {interface}'s "
                            f"events: leaving them to it; next look in {STUCK_PAUSE:g} s"),
              flush=True)
        time.sleep(STUCK_PAUSE)
        return False
    except OSError as exc:  # no locks on this file system: one dispatcher, as before
        print(terminal_safe(f"leaseboxctl: cannot lock {interface}'s event queue "
                            f"({exc.strerror or exc}); going on"), file=sys.stderr, flush=True)
    return True


def _one_at_a_time(state_dir: str, patience: float) -> int | None:
    """The machine's hooks lock: one event's hooks run at a time, whatever the interface,
    as dhcpcd's and NetworkManager's do. A laptop's "lost" on the dock's eth0 and "bound"
    on wlan0 ran side by side, each rewriting the same files, routes or firewall, and the
    last to write won. Waited for (the kernel wakes a waiter when it is let go, where a
    poll lost it to a dispatcher taking it again for its next event) `patience` seconds:
    past that (a hook that waits for another interface's dispatcher would wait for ever)
    these hooks run beside the others, said. None: run without it."""
    try:
        fd = os.open(os.path.join(state_dir, MACHINE_LOCK),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        print(terminal_safe(f"leaseboxctl: cannot take the hooks' lock in {state_dir} "
                            f"({exc.strerror or exc}); going on"), file=sys.stderr, flush=True)
        return None
    try:
        _flock_within(fd, patience)
        return fd
    except TimeoutError:
        print(terminal_safe(f"<4>leaseboxctl: another interface's hooks still run after "
                            f"{patience:g} s: running these beside them"), file=sys.stderr,
              flush=True)
    except OSError as exc:  # no locks on this file system
        print(terminal_safe(f"leaseboxctl: cannot take the hooks' lock in {state_dir} "
                            f"({exc.strerror or exc}); going on"), file=sys.stderr, flush=True)
    os.close(fd)
    return None


def _flock_within(fd: int, seconds: float) -> None:
    """flock(LOCK_EX), waiting `seconds` at most (TimeoutError past them): an interval
    timer's SIGALRM ends the wait. Outside the main thread (only tests run it there) no
    signal can be had: the wait has no limit."""
    if threading.current_thread() is not threading.main_thread():
        fcntl.flock(fd, fcntl.LOCK_EX)
        return

    def expired(_signum: int, _frame: object) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expired)
    # (past time_t setitimer raises OverflowError: a wait longer than 68 years is none)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, 2**31 - 1))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _ready(env: dict[str, str], found: list[Path], interface: str,
           args: argparse.Namespace) -> int | None:
    """Before an event's hooks: for DNS_EVENTS, the interface's DNS with its resolver (a
    hand-off that failed is not waited for), or DNS_WAIT; then the machine's hooks lock."""
    if not found:
        return None
    if env["LEASEBOX_EVENT"] in DNS_EVENTS:
        deadline = time.monotonic() + DNS_WAIT
        while waitonline.dns_pending(interface) and time.monotonic() < deadline:
            time.sleep(DNS_POLL)
    # long enough for every hook of the other's event to run out its time, and be killed
    patience = len(found) * (args.timeout + 2 * KILL_GRACE) if args.timeout else 0.0
    return _one_at_a_time(args.state_dir, max(LOCK_WAIT, 2 * patience))


def _dispatch_one(queue: int, name: str, env: dict[str, str] | None, found: list[Path],
                  interface: str, args: argparse.Namespace) -> bool:
    """Take the event `name` and run its hooks (env None: a bad event, only taken). The
    waits come before it is taken, so that a dispatcher stopped meanwhile (a shutdown,
    prerm) leaves it queued. True: it could not leave the queue."""
    lock = None if env is None else _ready(env, found, interface, args)
    try:
        try:  # taken: whatever the hooks do, it is not run twice
            os.unlink(name, dir_fd=queue)
            _sync(queue)  # not even after a crash
        except FileNotFoundError:  # taken by another (or dropped by the engine): not ours
            return False
        except IsADirectoryError:  # only a bad engine makes one
            return not _remove_stray(queue, name)
        except OSError as exc:
            # not taken (a file system gone read-only): not run either, as it would be
            # again at every run until it goes; it runs once it can be taken
            print(terminal_safe(f"leaseboxctl: cannot remove event {name}: "
                                f"{exc.strerror or exc}; its hooks wait"),
                  file=sys.stderr, flush=True)
            return True
        if env is not None:
            run_hooks(env, found, args.timeout)
        return False
    finally:
        if lock is not None:
            os.close(lock)


def run(args: argparse.Namespace) -> int:
    try:
        (interface,) = _checked([args.interface])
    except CtlError as exc:  # a usage error (64), as the man page says, not a traceback
        print(terminal_safe(f"leaseboxctl: {exc}"), file=sys.stderr)
        return exc.code
    path = os.path.join(args.state_dir, interface, "events")
    try:
        queue = _open_queue(path)
    except OSError:
        return 1
    if queue is None:
        return 0
    stuck = False
    try:
        if not _lock(queue, interface):
            return 0
        entries = [name for name in os.listdir(queue) if not name.startswith(".")]
        names = sorted(name for name in entries if name.endswith(".json"))
        for name in sorted(set(entries) - set(names)):
            stuck |= not _remove_stray(queue, name)
        found = hooks()
        boot = this_boot()
        for name in names:
            try:
                env = _event(queue, name, interface, boot)
            except FileNotFoundError:  # the engine dropped it for a newer one: it said so
                continue
            if _dispatch_one(queue, name, env, found, interface, args):
                stuck = True  # the later ones wait behind it: hooks see the queue's order
                break
    finally:
        os.close(queue)
    _pause_if_stuck(stuck)
    return 0
