"""Lease events for the dispatcher (leasebox-dispatch@IFACE.service), as files.

The engine never runs anything (its seccomp filter forbids exec): for each lease event it
writes one small JSON file into STATE_DIR/events/, and leasebox-dispatch@IFACE.path starts
the dispatcher when that directory is not empty. The dispatcher (leaseboxctl dispatch, root)
reads each file back as untrusted input, runs the administrator's hooks, and deletes it.
Bounded: at most MAX_PENDING files wait; past that, the oldest make way (and it is said).

With no hook installed there is nothing to run: the engine queues nothing, and no root
process is started for each lease event (~35 ms of CPU each, and journal lines). It looks
only where it sees the hook directories as they are now: in its minimal root they come
with binds of its unit, and systemd skips /etc/leasebox and /run/leasebox-conf if absent
at the start ("-"), so that a hook put there later would be out of sight; so would one in
a directory made anew on the host after the start (the bind holds the old one). Unless
each bind is a mount point here and still shows the directory it showed at the start,
hooks may exist and every event is queued.
"""

from __future__ import annotations

import json
import os
import stat

from leasebox.core.events import HOOK_DIRS, hook_name
from leasebox.core.log import Logger
from leasebox.core.machine.types import Lease, LeaseEventKind
from leasebox.core.record import replace
from leasebox.core.values import INFINITE
from leasebox.engine import journal
from leasebox.runtime import atomicfile

log = Logger("leasebox.engine")

DIRECTORY = "events"
MAX_PENDING = 64
# what each lease event is called for the hooks
HOOK_EVENTS = {
    LeaseEventKind.ACQUIRED: "bound",
    LeaseEventKind.RENEWED: "renewed",
    LeaseEventKind.REBOUND: "renewed",
    LeaseEventKind.RELEASED: "released",
    LeaseEventKind.LEFT: "left",
    LeaseEventKind.LOST: "lost",
    LeaseEventKind.DECLINED: "declined",
    LeaseEventKind.REFUSED: "refused",
    LeaseEventKind.FAILED: "failed",
}
# FAILED when the lease in use stays (a renewal the kernel failed): hooks that tear down
# on "failed" must not for this one
KEPT_EVENT = "renew-failed"


def document(event: str, interface: str, lease: Lease, old_address: str | None = None,
             boot: str | None = None, acquired: float | None = None) -> dict[str, object]:
    """The event file's JSON; `old_address` (a "changed" event's only) is the address of
    the lease bound before, which the hooks may have set things up for; `boot`, the boot
    ID when the engine was given it: the dispatcher skips events of an earlier boot (queued
    as the system went down, when no hook runs), as stale; `acquired`, the lease's start on
    the wall clock: with it, its end too (none for an infinite lease), which the relative
    times do not give a hook that runs late (the dispatcher was busy, or started again)."""
    doc: dict[str, object] = {} if old_address is None else {"old_address": old_address}
    if boot is not None:
        doc["boot"] = boot
    if acquired is not None:
        start = max(int(acquired), 0)
        doc["acquired"] = start
        doc["expires"] = None if lease.lease_time == INFINITE else start + lease.lease_time
    return doc | {
        "event": event,
        "interface": interface,
        "address": str(lease.address),
        "prefixlen": lease.prefixlen,
        "gateway": journal.gateway(lease),
        "server": str(lease.server_id),
        "dns": [str(d) for d in lease.dns_servers],
        "domains": list(dict.fromkeys(([lease.domain_name] if lease.domain_name else [])
                                      + list(lease.domain_search))),
        "ntp": [str(n) for n in lease.ntp_servers],
        "mtu": lease.mtu,
        "lease_time": lease.lease_time,
        # what dhclient's and dhcpcd's hooks get too (in files of engines since 2026-12-06)
        "routers": [str(r) for r in lease.routers],
        "routes": None if lease.classless_routes is None else [
            [str(r.destination), str(r.gateway)] for r in lease.classless_routes],
        "broadcast": None if lease.broadcast_address is None else str(lease.broadcast_address),
        "domain_name": lease.domain_name,
        "search": list(lease.domain_search),
        "renewal_time": lease.renewal_time,
        "rebinding_time": lease.rebinding_time,
    } | ({} if lease.hostname is None else {"hostname": lease.hostname}) | (
        {} if lease.captive_portal is None else {"captive_portal": lease.captive_portal})


# each hook directory, and the bind of the engine's unit that brings it into its root
HOOK_MOUNTS = dict(zip(HOOK_DIRS, ("/etc/leasebox", "/run/leasebox-conf", "/usr"),
                       strict=True))
MOUNTINFO = "/proc/self/mountinfo"


def mount_roots(path: str = MOUNTINFO) -> dict[str, str]:
    """Each mount point this process sees, with the directory of its file system that it
    shows (mountinfo's 5th and 4th fields; a root ending in "//deleted" is gone); empty if
    it cannot tell. Octal escapes are left as they are: only HOOK_MOUNTS, which have none,
    are looked up."""
    try:
        with open(path, encoding="utf-8", errors="replace") as mountinfo:
            return {fields[4]: fields[3] for line in mountinfo
                    if len(fields := line.split()) > 4}
    except OSError:
        return {}


def hooks_may_exist(hook_mounts: dict[str, str], first: dict[str, str],
                    now: dict[str, str]) -> bool:
    """False only if every hook directory is in sight and holds nothing (or is absent),
    or only masks: a name whose first entry, in the directories' order, is a link to
    /dev/null (the dispatcher runs none of them). In sight: its bind is mounted and shows
    what it showed at the start (`first`, the mount roots then; `now`, the mount roots
    now). A directory removed or renamed on the host after the start leaves the bind on
    the old one, out of sight of a new one."""
    named: set[str] = set()
    for directory, mount in hook_mounts.items():
        root = now.get(mount)
        if root is None or root != first.get(mount) or root.endswith("//deleted"):
            return True
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            if os.path.lexists(directory):
                return True  # a link to where this root does not reach
            continue
        except OSError:
            return True  # cannot look: assume there are
        for name in names:  # as the dispatcher reads them
            if hook_name(name) and name not in named:
                named.add(name)
                path = os.path.join(directory, name)
                if not (os.path.islink(path) and os.path.realpath(path) == os.devnull):
                    return True
    return False


class EventQueue:
    def __init__(self, state_dir: str, interface: str,
                 hook_mounts: dict[str, str] = HOOK_MOUNTS, mountinfo: str = MOUNTINFO,
                 boot: str | None = None, captive_portal: bool = True) -> None:
        self.directory = f"{state_dir}/{DIRECTORY}"
        self.interface = interface
        self.boot = boot
        self.captive_portal = captive_portal  # UseCaptivePortal=
        self.seq = 0
        # of the last lease bound, "changed" or not: set from the lease the engine starts
        # with too (remembered, or resumed), so that a restart does not make it "bound"
        self.last_address: str | None = None
        self.full_logged = False
        self.failed = ""  # why the last event could not be queued, said once
        self.hook_mounts = hook_mounts
        self.mountinfo = mountinfo
        self.first_roots = mount_roots(mountinfo)  # the binds as systemd made them
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Remove the temporary files an engine killed while writing an event left: nothing
        else writes here, and the path unit would start the dispatcher for them again and
        again."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if name.startswith("."):
                path = f"{self.directory}/{name}"
                try:
                    if stat.S_ISDIR(os.lstat(path).st_mode):
                        # a directory the dispatcher hid (.stray-NAME): only a misbehaving
                        # engine makes one; unlink() failed on it at every start
                        import shutil  # noqa: PLC0415 - never on a normal start

                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
                except OSError as exc:
                    log.warning("cannot remove %s from the event queue: %s", name, exc.strerror)

    def add(self, kind: LeaseEventKind, lease: Lease, kept: bool = False,
            acquired: float | None = None) -> None:
        """Queue the event for the hooks; `acquired`: the lease's start on the wall clock."""
        event = KEPT_EVENT if kept and kind is LeaseEventKind.FAILED else HOOK_EVENTS[kind]
        old_address = None
        if event == "bound":
            if self.last_address is not None and self.last_address != str(lease.address):
                event, old_address = "changed", self.last_address
            self.last_address = str(lease.address)
        if not hooks_may_exist(self.hook_mounts, self.first_roots, mount_roots(self.mountinfo)):
            return
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            pending = os.listdir(self.directory)
            queued = sorted(name for name in pending if not name.startswith("."))
            if len(queued) >= MAX_PENDING:
                # The newest event is the one that tells the hooks how things stand now
                # (a final "lost" must not be what goes): the oldest make way.
                if not self.full_logged:
                    log.warning("%d lease events wait for the dispatcher: dropping the "
                                "oldest to queue the newest", len(queued))
                    self.full_logged = True
                for name in queued[:len(queued) - MAX_PENDING + 1]:
                    try:
                        os.unlink(f"{self.directory}/{name}")
                    except FileNotFoundError:
                        pass  # the dispatcher took it meanwhile
                    pending.remove(name)
            else:
                self.full_logged = False
            self.seq = max([self.seq, *(_number(name) for name in pending)]) + 1
            if not self.captive_portal:  # UseCaptivePortal=no: not shown anywhere
                lease = replace(lease, captive_portal=None)
            data = json.dumps(document(event, self.interface, lease, old_address, self.boot,
                                       acquired), sort_keys=True)
            # not synced to disk: an event is stale after a reboot (the dispatcher skips
            # those of an earlier boot), and with short leases these were two fsyncs a
            # renewal, on what may be an SD card
            atomicfile.write_atomic(self.directory, f"{self.seq:012d}.json",
                                    data.encode("ascii"), mode=0o600, durable=False)
        except OSError as exc:
            # (by errno: the text names each try's temporary file) a full or read-only /var
            # would repeat it at every renewal
            if (exc.strerror or str(exc)) != self.failed:
                log.error("cannot queue the %s event for the dispatcher: %s (the hooks miss "
                          "the events until one can be queued again)", event, exc)
            else:
                log.debug("cannot queue the %s event either", event)
            self.failed = exc.strerror or str(exc)
            return
        if self.failed:
            log.info("lease events reach the dispatcher again (the %s event)", event)
            self.failed = ""


def _number(name: str) -> int:
    stem = name.removesuffix(".json")
    return int(stem) if stem.isdigit() and len(stem) == 12 else 0
