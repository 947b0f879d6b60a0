"""leaseboxctl status / renew / release / leave: requests to the engine's control socket.

The control socket of interface IFACE is RUNTIME_DIR/IFACE/control.sock (root only by
default). One request, one reply, both small JSON objects (leasebox.ipc.control).

Exit codes: 0 done; 1 the engine refused (e.g. renew while an exchange is in progress);
64 usage (a bad interface name); 69 no leasebox runs for that interface; 77 permission
denied.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from leasebox.ctl import others
from leasebox.ipc import control
from leasebox.runtime import ifname

EX_REFUSED = 1
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_NOPERM = 77
TIMEOUT = 10.0
BUS_LINKS = Path("/run/leasebox-bus/links")  # leasebox-bus's per-link files (root's)
NETCONF_RUN = Path("/run/leasebox-netconf")  # netconf's netconf.state per interface
RESOLV_CONF = Path("/etc/resolv.conf")
# what /etc/resolv.conf is, on a machine whose programs use systemd-resolved: its stub's
# file, its list of the servers it holds, or the static stub file that systemd ships
RESOLVED_FILES = ("/run/systemd/resolve/stub-resolv.conf", "/run/systemd/resolve/resolv.conf",
                  "/usr/lib/systemd/resolv.conf")
DNS_FILES = Path("/run/leasebox-dns")  # netconf's DNS file per interface (--dns-to=file)
MAX_FILE = 1 << 16


class CtlError(Exception):
    def __init__(self, code: int, text: str, timed_out: bool = False,
                 absent: bool = False, ask_systemd: str | None = None,
                 closed: bool = False) -> None:
        super().__init__(text)
        self.code = code
        self.timed_out = timed_out  # the engine did not answer in time
        self.absent = absent  # no engine listens: no socket, or the connection refused
        # the engine closed the connection without an answer: it exited (or crashed) with
        # the request, which may or may not have been carried out; not "absent"
        self.closed = closed
        # the interface whose units systemd is asked about, once the error is shown (with
        # " ({hint})" in `text`): wait-online and the overview, which only count the error,
        # do not run systemctl at every look
        self.ask_systemd = ask_systemd

    def __str__(self) -> str:
        if self.ask_systemd is not None:  # once
            self.args = (str(self.args[0]).replace("{hint}", _ask_systemd(self.ask_systemd)),)
            self.ask_systemd = None
        return super().__str__()


# the units of an interface that can fail while its target stays active
UNITS = ("leasebox-engine@{}.service", "leasebox-io@{}.service", "leasebox-netconf@{}.service",
         "leasebox-engine@{}.socket", "leasebox-control@{}.socket", "leasebox-io@{}.socket",
         "leasebox-io-link@{}.socket", "leasebox-netconf@{}.socket")
SYSTEMCTL_TIMEOUT = 5.0


def failed_units(iface: str) -> list[str]:
    """Which of the interface's units systemd holds as failed (empty if it cannot tell:
    no systemd, or not asked in time). `iface` is checked (ifname.check)."""
    try:
        out = subprocess.run([SYSTEMCTL, "show", "--property=Id,ActiveState",
                              *(unit.format(iface) for unit in UNITS)],
                             capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    failed = []
    for block in out.split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("ActiveState") == "failed" and props.get("Id"):
            failed.append(props["Id"])
    return failed


def target_masked(iface: str) -> bool:
    """Whether systemd has leasebox@IFACE.target masked (False if it cannot tell)."""
    try:
        out = subprocess.run([SYSTEMCTL, "show", "--property=LoadState", "--value",
                              f"leasebox@{iface}.target"], capture_output=True, text=True,
                             timeout=SYSTEMCTL_TIMEOUT, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return out.strip() == "masked"


def _ask_systemd(iface: str) -> str:
    """Where to look when the engine is not there. A failed unit says why in its status (a
    configuration error, a start limit), which leasebox itself cannot tell once it has
    exited; the target stays active all the same, and says nothing."""
    failed = failed_units(iface)
    if not failed:
        return f"systemctl status leasebox@{iface}.target says why"
    return (f"failed: {', '.join(failed)}; systemctl status {failed[0]} says why, and once "
            f"that is fixed, systemctl reset-failed 'leasebox*@{iface}.*' and a restart of "
            f"leasebox@{iface}.target start it again")


def request(rundir: Path, iface: str, command: control.Command,
            timeout: float | None = None) -> dict[str, Any]:
    path = rundir / iface / "control.sock"
    timeout = TIMEOUT if timeout is None else timeout
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            try:
                sock.send(control.encode_request(control.Request(command)))
            except (BrokenPipeError, ConnectionResetError):
                pass  # an engine that refuses us replies and closes at once: read why
            data = sock.recv(control.MAX_REPLY + 1)
    except FileNotFoundError:
        raise CtlError(EX_UNAVAILABLE, f"{iface}: leasebox is not running for this interface "
                       f"(no {path}; {{hint}})", absent=True, ask_systemd=iface) from None
    except ConnectionRefusedError:
        raise CtlError(EX_UNAVAILABLE, f"{iface}: leasebox is not running for this interface "
                       "({hint})", absent=True, ask_systemd=iface) from None
    except PermissionError:
        raise CtlError(EX_NOPERM, f"{iface}: permission denied (the control socket is "
                       "root's; see ControlGroup= in leasebox.conf(5))") from None
    except TimeoutError:
        # (the connection may wait for an engine that cannot start: systemd says so)
        raise CtlError(EX_UNAVAILABLE, f"{iface}: the engine did not answer ({{hint}})",
                       timed_out=True, ask_systemd=iface) from None
    except (ConnectionResetError, BrokenPipeError):
        data = b""  # as an empty read: closed, taken or not
    except OSError as exc:
        raise CtlError(EX_UNAVAILABLE, f"{iface}: {exc.strerror or exc}") from None
    if not data:
        # started by the connection, the engine exited before it answered (exit 78, say)
        raise CtlError(EX_UNAVAILABLE, f"{iface}: the engine closed the connection without "
                       "an answer ({hint})", closed=True, ask_systemd=iface)
    try:
        reply = control.decode_reply(data)
    except control.ControlError as exc:
        raise CtlError(EX_UNAVAILABLE, f"{iface}: bad reply from the engine: {exc}") from None
    if not reply["ok"]:
        error = str(reply.get("error", "refused"))
        code = EX_NOPERM if error == "permission denied" else EX_REFUSED
        raise CtlError(code, f"{iface}: {error}")
    result: dict[str, Any] = reply.get("result") or {}
    return result


def interfaces(rundir: Path) -> list[str]:
    try:
        return sorted(p.parent.name for p in rundir.glob("*/control.sock"))
    except OSError:
        return []


def _when(seconds: float | None, now_wall: float) -> str:
    if seconds is None:
        return "never"
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now_wall + seconds))
    return f"{at} ({_relative(seconds)})"


def _relative(seconds: float) -> str:
    s = int(abs(seconds))
    if s < 120:
        text = f"{s} s"
    elif s < 7200:
        text = f"{s // 60} min {s % 60} s"
    elif s < 172800:
        text = f"{s // 3600} h {s % 3600 // 60} min"
    else:
        text = f"{s // 86400} days {s % 86400 // 3600} h"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def read_json(path: Path) -> Any:
    """A state file of leasebox's daemons: None when absent, or when it is root's and this
    is a member of ControlGroup= (the rest of the status is still shown). Not followed if
    a link: the directory is the (confined) daemon's, and root reads this (the hooks'
    dispatcher, every 50 ms while it waits for DNS)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, PermissionError):
        return None
    except OSError as exc:
        return {"error": f"cannot read {path}: {exc.strerror or exc}"}
    try:
        with os.fdopen(fd, encoding="utf-8") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return {"error": f"cannot read {path}: not a regular file"}
            return json.loads(handle.read(MAX_FILE))
    except (OSError, ValueError, RecursionError) as exc:
        return {"error": f"cannot read {path}: {exc}"}


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value.isprintable() else "?"


def handoff_status(iface: str, bus_links: Path = BUS_LINKS, netconf_run: Path = NETCONF_RUN,
                   resolv_conf: Path = RESOLV_CONF) -> dict[str, Any]:
    """Where the lease's DNS and NTP stand: leasebox-bus's file for the link (delivered to
    systemd-resolved and -timesyncd, or pending and why), and whatever netconf could not
    yet hand to leasebox-bus (netconf.state's "wanted")."""
    out: dict[str, Any] = {}
    doc = read_json(bus_links / f"{iface}.json")
    if isinstance(doc, dict):
        for key in ("resolved", "timesyncd", "error"):
            if key in doc:
                out[key] = _text(doc[key])
        ntp = doc.get("ntp_servers")
        if isinstance(ntp, list):
            out["ntp_servers"] = [_text(a) for a in ntp]
    state = read_json(netconf_run / iface / "netconf.state")
    if isinstance(state, dict) and state.get("wanted") is not None:
        # the DNS file, or leasebox-bus: netconf's status has its error
        out["netconf"] = (f"pending: not handed on yet (systemctl status "
                          f"leasebox-netconf@{iface} says why)")
    if isinstance(state, dict) and isinstance(state.get("dns"), dict) \
            and state["dns"].get("dns_servers"):
        note = resolv_conf_note(iface, state.get("dns_to"), resolv_conf)
        if note:
            out["resolv_conf"] = note
    return out


def _stub_only(path: Path) -> bool:
    """Whether `path` names systemd-resolved's stub as its only name servers (a copy of its
    stub-resolv.conf, or a file written so by hand)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(MAX_FILE)
    except OSError:
        return False
    servers = {line.split()[1] for line in text.splitlines()
               if line.startswith("nameserver") and len(line.split()) > 1}
    return bool(servers) and servers <= {"127.0.0.53", "127.0.0.54"}


def resolv_conf_note(iface: str, sink: object, resolv_conf: Path = RESOLV_CONF) -> str | None:
    """Why programs may not use the DNS servers netconf handed on: /etc/resolv.conf is
    not systemd-resolved's (sink "resolved"), or not the interface's DNS file (sink "file");
    None when it is, or the sink is not known. The commonest "the address works but no
    name resolves" of a new installation, which leasebox itself never causes or mends (it
    never writes /etc/resolv.conf)."""
    target = os.path.realpath(resolv_conf)
    linked = os.path.islink(resolv_conf)
    what = f"a link to {target}" if linked else (
        "a file of its own" if os.path.exists(resolv_conf) else "missing")
    if sink == "resolved":
        if target in RESOLVED_FILES or _stub_only(resolv_conf):
            return None
        return (f"{resolv_conf} is {what}, not systemd-resolved's: programs reading it do "
                "not use these DNS servers (ln -sf ../run/systemd/resolve/stub-resolv.conf "
                f"{resolv_conf})")
    if sink == "file":
        own = str(DNS_FILES / f"{iface}.conf")
        if target == own:
            return None
        return (f"the DNS servers are in {own}, and {resolv_conf} is {what} (leasebox(8): "
                f"ln -sf {own} {resolv_conf}, on a machine with one interface)")
    return None


def _lease_lines(lease: dict[str, Any], now_wall: float) -> list[str]:
    lines = [
        f"      Address: {lease['address']}/{lease['prefixlen']}",
        f"      Gateway: {lease.get('gateway') or '-'}",
        f"          DNS: {' '.join(lease.get('dns_servers') or []) or '-'}",
        f"Search Domain: {' '.join(_domains(lease)) or '-'}",
        *([f"     Hostname: {lease['hostname']}"] if lease.get("hostname") else []),
        *([f"          NTP: {' '.join(lease['ntp_servers'])}"]
          if lease.get("ntp_servers") else []),
        f"       Server: {lease['server_id']}",
        f"     Obtained: {_when(-lease['obtained_ago'], now_wall)}",
        f"      Expires: {_when(lease.get('expires_in'), now_wall)}",
        f"     Renew T1: {_when(lease.get('t1_in'), now_wall)}",
        f"    Rebind T2: {_when(lease.get('t2_in'), now_wall)}",
    ]
    routers = lease.get("routers") or []
    if routers and routers != [lease.get("gateway")]:  # option 3 as sent, beyond the gateway
        lines.append(f"      Routers: {' '.join(routers)}")
    if lease.get("classless_routes"):
        lines.append(f"       Routes: {', '.join(lease['classless_routes'])}")
    if lease.get("mtu"):
        lines.append(f"          MTU: {lease['mtu']}")
    if lease.get("received_options"):
        lines.append("      Options: " + " ".join(
            f"{code}={value}" for code, value in sorted(lease["received_options"].items(),
                                                          key=lambda kv: int(kv[0]))))
    if lease.get("captive_portal"):
        lines.append(f"Captive Portal: {lease['captive_portal']}")
    return lines


def no_such_interface(name: object) -> bool:
    """Whether `name`, a name leasebox takes, names no interface here (leaseboxctl runs in
    the host's network namespace, as the services' links are)."""
    if not isinstance(name, str):
        return False
    try:
        return ifname.index_of(ifname.check(name)) is None
    except ValueError:  # (AlternativeName too: the engine says that one)
        return False


def format_status(st: dict[str, Any], now_wall: float) -> str:
    iface = st.get("interface")
    missing = not st.get("state") and no_such_interface(iface)
    lines = [f"● {iface}",
             f"        State: {'no such interface' if missing else st.get('state') or 'starting'}"
             + ("" if st.get("carrier") in (None, True) else " (no carrier)"),
             f"       Status: {st.get('status')}"]
    if missing:  # a typo in leasebox@NAME.target, or a NIC not there (yet)
        lines.append(f"           io: waiting for an interface named {iface}, which does not "
                     "exist (`ip -br link` lists the names)")
    elif not st.get("state") and st.get("io"):  # (io's own status has why: not Ethernet)
        lines.append(f"           io: has not reported the link (systemctl status "
                     f"leasebox-io@{iface} says why)")
    elif st.get("io") is False:
        lines.append("           io: not connected (restarting, or waiting for the "
                     "interface): nothing is sent or received")
    lease = st.get("lease")
    if lease:
        lines += _lease_lines(lease, now_wall)
        if st.get("netconf_notes"):  # what of the lease netconf did not install, and why
            lines.append(f"  Not applied: {st['netconf_notes']}")
    handoff = st.get("handoff") or {}
    if not (lease or {}).get("ntp_servers") and handoff.get("ntp_servers"):
        lines.append(f"          NTP: {' '.join(handoff['ntp_servers'])}")
    label = "     Hand-off:"
    for key, name in (("resolved", "systemd-resolved"), ("timesyncd", "systemd-timesyncd"),
                      ("netconf", "netconf"), ("error", "leasebox-bus"),
                      ("resolv_conf", "resolv.conf")):
        if handoff.get(key) and handoff[key] != "not used":
            lines.append(f"{label} {name}: {handoff[key]}")
            label = " " * len(label)
    if st.get("fqdn"):
        lines.append(f"         FQDN: {st['fqdn']} (sent in option 81)")
    servers = st.get("servers") or []
    if len(servers) > 1:
        lines.append(f"      Servers: {', '.join(map(str, servers))} (more than one answers)")
    if st.get("last_error"):
        lines.append(f"   Last error: {st['last_error']}")
    lines += _other_managers(st.get("other_managers") or [], iface)
    return "\n".join(terminal_safe(line) for line in lines)


def _other_managers(found: list[dict[str, Any]], iface: object) -> list[str]:
    """A warning for each other program that manages the interface (ctl.others)."""
    lines = []
    label = "      Warning:"
    for other in found:
        what = "manages" if other["program"] == "systemd-networkd" else "runs on"
        lines.append(f"{label} {other['program']} (pid {other['pid']}) also {what} {iface}: "
                     f"{other['detail']}")
        label = " " * len(label)
    if lines:
        lines.append(f"{' ' * len(label)} only one client may manage an interface (leasebox(8), "
                     "COEXISTENCE, says how to hand it over)")
    return lines


def terminal_safe(text: str) -> str:
    """`text` with every character a terminal would act on (escape sequences, control and
    format characters) shown as an escape: what the engine reports came from a server."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _domains(lease: dict[str, Any]) -> list[str]:
    out: list[str] = []
    names = [lease.get("domain_name")] + list(lease.get("domain_search") or [])
    for name in names:
        if isinstance(name, str) and name not in out:
            out.append(name)
    return out


def _checked(names: list[str]) -> list[str]:
    try:
        return [ifname.check(n) for n in names]
    except ValueError as exc:
        raise CtlError(EX_USAGE, str(exc)) from None


def chosen_interfaces(args: argparse.Namespace) -> list[str] | int:
    """The interfaces named on the command line (each once), else every one leasebox runs
    on; or the exit code after saying why a name is not one."""
    try:
        return list(dict.fromkeys(_checked(args.interfaces))) \
            or interfaces(Path(args.runtime_dir))
    except CtlError as exc:
        print(terminal_safe(f"leaseboxctl: {exc}"), file=sys.stderr)
        return exc.code


def _running(args: argparse.Namespace) -> list[str] | int:
    """chosen_interfaces, and EX_UNAVAILABLE (said) when leasebox runs on none."""
    names = chosen_interfaces(args)
    if names == []:
        if getattr(args, "json", False):
            print("[]")  # still a JSON array for a reader (jq) to read
        print("leaseboxctl: leasebox is not running on any interface", file=sys.stderr)
        return EX_UNAVAILABLE
    return names


def run_status(args: argparse.Namespace) -> int:
    rundir = Path(args.runtime_dir)
    names = _running(args)
    if isinstance(names, int):
        return names
    results: list[tuple[str, dict[str, Any]]] = []
    code = 0
    procs = others.processes()  # (once for every interface)
    for name in names:
        try:
            st = request(rundir, name, control.Command.STATUS)
            st["handoff"] = handoff_status(name)
            st["other_managers"] = others.managers(name, procs)
            results.append((name, st))
        except CtlError as exc:
            print(terminal_safe(f"leaseboxctl: {exc}"), file=sys.stderr)
            code = code or exc.code
    if args.json:
        print(json.dumps([st for _, st in results], indent=2, sort_keys=True))
        return code
    now = time.time()
    shown = []
    for name, st in results:
        try:  # the engine's fields as it sends them; a broken or hostile one is said so
            shown.append(format_status(st, now))
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError,
                OSError) as exc:  # (OSError: a time localtime() cannot take)
            print(terminal_safe(f"leaseboxctl: {name}: bad reply from the engine: "
                                f"{type(exc).__name__}: {exc}"), file=sys.stderr)
            code = code or EX_UNAVAILABLE
    if shown:
        print("\n\n".join(shown))
    return code


SYSTEMCTL = "systemctl"


def system_stopping() -> bool:
    """Whether the system is shutting down or rebooting: the service manager's state is
    "stopping" from the moment a shutdown job is queued (systemctl is-system-running).
    Anything else, or no answer, is an ordinary stop."""
    try:
        out = subprocess.run([SYSTEMCTL, "is-system-running"], capture_output=True,
                             text=True, timeout=5, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.stdout.strip() == "stopping"


# an engine in one of these states is not there to answer, and will not be until the
# request (or the restart it waits for) starts it: ActiveState, or SubState (auto-restart:
# ActiveState "activating" while Restart= waits RestartSec=; auto-restart-queued, its job
# queued, since systemd 254)
ENGINE_DOWN = frozenset({"inactive", "failed", "deactivating", "auto-restart",
                         "auto-restart-queued"})
# of those, an engine that did not stop by itself (an exit 78 for a configuration error, a
# crash): it did not leave the link
ENGINE_FAILED = frozenset({"failed", "auto-restart", "auto-restart-queued"})


def engine_state(iface: str) -> str | None:
    """The engine service's state as the service manager says, "ACTIVE/SUB"; None when
    there is no service manager to ask."""
    try:
        out = subprocess.run([SYSTEMCTL, "show", "--property=ActiveState",
                              "--property=SubState", "--", f"leasebox-engine@{iface}.service"],
                             capture_output=True, text=True, timeout=5,
                             stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    props = dict(line.partition("=")[::2] for line in out.stdout.splitlines())
    active, sub = props.get("ActiveState"), props.get("SubState")
    return None if not active or not sub else f"{active}/{sub}"


def why(exc: CtlError) -> str:
    """An engine that could not be asked, in a word for the overview's state column."""
    if exc.absent:
        return "not running"
    if exc.closed:
        return "closed, no answer"
    if exc.code == EX_NOPERM:
        return "permission denied"
    return "no answer" if exc.timed_out else "bad answer"


def overview_row(name: str, st: dict[str, Any] | None,
                 error: CtlError | None = None, detail: bool = True) -> dict[str, Any]:
    """One interface in a line: what `leaseboxctl` with no argument shows. `detail`: the
    error's whole text (--json), which asks systemd about the interface's units; the table
    shows only why()."""
    lease = (st or {}).get("lease") or {}
    return {
        "interface": name,
        "state": (st or {}).get("state") or (why(error) if error else "no such interface"
                                             if no_such_interface(name) else "starting"),
        "carrier": (st or {}).get("carrier"),
        "address": f"{lease['address']}/{lease['prefixlen']}" if lease else None,
        "expires_in": lease.get("expires_in") if lease else None,
        "captive_portal": lease.get("captive_portal") if lease else None,
        "error": str(error) if error and detail else None,
    }


def _row(name: str, st: dict[str, Any]) -> dict[str, Any]:
    """overview_row of an engine's answer whose fields have the types it sends; raises
    CtlError for one that does not (a broken or hostile engine)."""
    try:
        row = overview_row(name, st)
        fits = (isinstance(row["state"], str) and isinstance(st.get("lease") or {}, dict)
                and row["carrier"] in (None, True, False)
                and isinstance(row["expires_in"], int | float | None))
    except (TypeError, KeyError, AttributeError, ValueError):
        fits = False
    if not fits:
        raise CtlError(EX_UNAVAILABLE, f"{name}: bad reply from the engine: fields of the "
                       "wrong type")
    return row


def _expiry(row: dict[str, Any]) -> str:
    if row["address"] is None:
        return "-"
    return "never" if row["expires_in"] is None else _relative(row["expires_in"])


def run_list(args: argparse.Namespace) -> int:
    rundir = Path(args.runtime_dir)
    names = _running(args)
    if isinstance(names, int):
        return names
    rows = []
    code = 0
    answered = refused = False
    for name in names:
        try:
            rows.append(_row(name, request(rundir, name, control.Command.STATUS)))
            answered = True
        except CtlError as exc:
            refused |= exc.code == EX_NOPERM
            rows.append(overview_row(name, None, exc, detail=args.json))
            # an interface asked for by name is an error, as for status; the overview of
            # every one is not (a row says "not running")
            code = code or (exc.code if args.interfaces else 0)
    if refused and not answered:
        code = EX_NOPERM  # no engine answered, and one refused: not a listing that worked
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return code
    table = [("IFACE", "STATE", "ADDRESS", "EXPIRES")]
    table += [(r["interface"], r["state"] + ("" if r["carrier"] in (None, True)
                                             else " (no carrier)"),
               r["address"] or "-", _expiry(r)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print(terminal_safe("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                            + "  " + row[3]))
    print(f"\n{len(rows)} interface(s) listed.")
    return code


def run_command(args: argparse.Namespace, absent_ok: bool = False) -> int:
    command = {"renew": control.Command.RENEW, "release": control.Command.RELEASE,
               "leave": control.Command.LEAVE}[args.command]
    if command is control.Command.LEAVE and (
            args.shutdown == "yes" or (args.shutdown == "auto" and system_stopping())):
        command = control.Command.SHUTDOWN
    try:
        (name,) = _checked([args.interface])
        result = request(Path(args.runtime_dir), name, command)
    except CtlError as exc:
        if absent_ok and exc.absent:
            if not args.quiet:  # (a mistyped name, too: said, but nothing to leave)
                print(terminal_safe(f"leaseboxctl: {exc}: nothing to leave"), file=sys.stderr)
            _nothing_to_leave(args, "not running")
            return 0
        print(terminal_safe(f"leaseboxctl: {exc}"), file=sys.stderr)
        return exc.code
    if result.get("warning"):  # (a leave netconf has not confirmed): even with --quiet
        print(terminal_safe(f"leaseboxctl: {name}: {result['warning']}"), file=sys.stderr)
    if args.json:  # the interface's status afterwards, as `status --json` prints one
        result["handoff"] = handoff_status(name)
        result["other_managers"] = others.managers(name)
        print(json.dumps(result, indent=2, sort_keys=True))
    elif not args.quiet:
        print(terminal_safe(f"{name}: {result.get('status')}"))
    return 0


def _nothing_to_leave(args: argparse.Namespace, why: str) -> None:
    """With --json, the object a leave prints (as `status --json` does one), for a reader
    (jq .state) when there was no engine to ask."""
    if getattr(args, "json", False):
        print(json.dumps({"interface": args.interface, "state": None, "status": why,
                          "handoff": handoff_status(args.interface)}, indent=2, sort_keys=True))


def ifname_ok(name: str) -> bool:
    try:
        ifname.check(name)
    except ValueError:
        return False
    return True


def leave_if_running(args: argparse.Namespace) -> int:
    """`leave` from a unit's ExecStop=: a target whose engine already stopped is fine; one
    that did not answer, or answered nonsense, is not (the address may still be there).

    An engine that is not running is not asked at all: the request would start it through
    its control socket, and when the target restarts, that start waits for this stop job
    (systemd orders a stop before a start), which waits for the reply, until systemd kills
    it; the engine that then starts finds the request queued and leaves the link for good.
    """
    if args.command == "leave" and ifname_ok(args.interface):
        state = engine_state(args.interface)
        if state is not None and not ENGINE_DOWN.isdisjoint(state.split("/")):
            if not ENGINE_FAILED.isdisjoint(state.split("/")):
                # said even from ExecStop= (--quiet): a failed engine left nothing, and
                # what it applied is still on the link, as nobody else removes it
                print(terminal_safe(
                    f"leaseboxctl: {args.interface}: the engine is not running ({state}): "
                    f"whatever it had applied on {args.interface} (address, routes, DNS, "
                    f"NTP) stays until its lifetime ends; see journalctl -u "
                    f"leasebox-engine@{args.interface}, then start and stop "
                    f"leasebox@{args.interface}.target to remove it"), file=sys.stderr)
            elif not args.quiet:
                print(terminal_safe(f"leaseboxctl: {args.interface}: the engine is not "
                                    f"running ({state}): nothing to leave"), file=sys.stderr)
            _nothing_to_leave(args, f"the engine is not running ({state})")
            return 0
    return run_command(args, absent_ok=args.command == "leave")



