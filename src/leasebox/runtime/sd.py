"""The service manager's side of every leasebox process: inherited fds, sd_notify, watchdog.

Works the same under systemd and under leasebox-launch (which plays systemd for tests):
fds arrive as LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID, notifications go to NOTIFY_SOCKET.
Written on the socket module alone (no systemd-python), so it costs nothing to import and
behaves identically under Debian's python3-systemd and PyPI's systemd-python.
"""

from __future__ import annotations

import array
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence

SD_LISTEN_FDS_START = 3
MAX_INHERITED_FDS = 64


class ActivationError(Exception):
    """The environment handed us fds we cannot make sense of."""


def listen_fds(
    environ: Mapping[str, str] | None = None, unset: bool = True
) -> dict[str, list[int]]:
    """Return the inherited fds by name, as sd_listen_fds_with_names(3) does.

    Unnamed fds are listed under "unknown", as systemd names them. Fds are set close-on-exec.
    """
    env = os.environ if environ is None else environ
    try:
        pid = int(env.get("LISTEN_PID", "0"))
        count = int(env.get("LISTEN_FDS", "0"))
    except ValueError as exc:
        raise ActivationError(f"bad LISTEN_PID/LISTEN_FDS: {exc}") from None
    names_env = env.get("LISTEN_FDNAMES", "")
    if unset and environ is None:
        for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(key, None)
    if pid != os.getpid() or count == 0:
        return {}
    if not 0 < count <= MAX_INHERITED_FDS:
        raise ActivationError(f"LISTEN_FDS={count} out of range")
    names = names_env.split(":") if names_env else []
    out: dict[str, list[int]] = {}
    for i in range(count):
        fd = SD_LISTEN_FDS_START + i
        os.set_inheritable(fd, False)
        name = names[i] if i < len(names) and names[i] else "unknown"
        out.setdefault(name, []).append(fd)
    return out


def take_sockets(names: Sequence[str], warn: Callable[[str], object]
                 ) -> dict[str, socket.socket]:
    """The inherited sockets called `names` (each at most once); every other inherited fd
    is closed at once, with a warning: nothing else belongs to us. Raises ActivationError."""
    fds = listen_fds()
    taken = {}
    for name in names:
        sock = take_socket(fds, name)
        if sock is not None:
            taken[name] = sock
    for name, rest in fds.items():
        for fd in rest:
            warn(f"closing unexpected inherited fd {fd} ({name})")
            os.close(fd)
    return taken


def take_socket(fds: dict[str, list[int]], name: str) -> socket.socket | None:
    """Wrap the first inherited fd called `name` as a socket (type and family from the fd)."""
    found = fds.get(name)
    if not found:
        return None
    fd = found.pop(0)
    if not found:
        del fds[name]
    return socket.socket(fileno=fd)


def notify(*lines: str, fds: Iterable[int] = ()) -> bool:
    """sd_notify(3): send `lines` to NOTIFY_SOCKET. False when there is no service manager."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]
    data = "\n".join(lines).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        fd_list = list(fds)
        if fd_list:
            # not socket.send_fds: it drops its address argument (CPython 3.11)
            rights = array.array("i", fd_list).tobytes()
            sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, rights)], 0, path)
        else:
            sock.sendto(data, path)
    return True


def store_fd(fd: int, name: str, replace: bool = True) -> bool:
    """Hand `fd` to the service manager's FDSTORE under `name`, replacing one of that name
    (systemd keeps both otherwise); `replace=False` when none was handed in at start: the
    store has none then, and one notification is spared. FDPOLL=0: systemd would drop a
    stored socket that polls with an error (a packet socket after its link went down,
    ENETDOWN) and the next start would lose it; the programs check what they get back."""
    if replace and not notify("FDSTOREREMOVE=1", f"FDNAME={name}"):
        return False
    return notify("FDSTORE=1", f"FDNAME={name}", "FDPOLL=0", fds=[fd])


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None when not asked."""
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", "0"))
        pid = int(os.environ.get("WATCHDOG_PID", str(os.getpid())))
    except ValueError:
        return None
    if usec <= 0 or pid != os.getpid():
        return None
    return usec / 2_000_000
