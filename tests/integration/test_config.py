"""leasebox.conf end to end: engine and netconf each read it from a configuration root, and
what it says shows on the link, in the routes, in the DNS file and at the server."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from leasebox.engine.clientid import default_iaid
from leasebox.ipc import control
from tests.integration.netlab import CLIENT_MAC, SERVER_IP, Dnsmasq, Lab, Leasebox
from tests.waiting import wait_for

CONTROL_GID = 4242
DNS_OPTIONS = ("--dhcp-option=option:dns-server,192.0.2.53",
               "--dhcp-option=option:domain-name,example.test")


def configured(lab: Lab, relpath: str, text: str) -> Leasebox:
    """leasebox with `text` in ROOT/etc/leasebox/RELPATH, read by both engine and netconf."""
    root = lab.tmp / "config-root"
    path = root / "etc" / "leasebox" / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return Leasebox(lab, f"--config-root={root}", netconf_args=(f"--config-root={root}",))


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_allowed_addresses_outside_the_offer_refuses_it(lab: Lab) -> None:
    dns = Dnsmasq(lab).start()  # offers from 192.0.2.50-150
    box = configured(lab, "interfaces/veth0.conf",
                     "[Network]\nAllowedAddresses=10.0.0.0/8\n").start()
    wait_for("netconf to refuse the lease", lambda: "refused apply" in box.log(), 15)
    wait_for("an ACK at dnsmasq", lambda: dns.count("DHCPACK") >= 1, 5)
    assert lab.address() is None
    assert not [r for r in lab.routes() if r.get("protocol") == "dhcp"]
    assert "AllowedAddresses" in box.log()  # the refusal names the setting
    assert not box.status().startswith("Bound")


def test_route_metric(lab: Lab) -> None:
    Dnsmasq(lab).start()
    box = configured(lab, "leasebox.conf", "[Network]\nRouteMetric=2048\n").start()
    lab.wait_address()
    box.wait_bound()
    default = [r for r in lab.routes() if r["dst"] == "default"]
    assert [(r.get("gateway"), r.get("metric")) for r in default] == [(SERVER_IP, 2048)]


def test_use_dns_no(lab: Lab) -> None:
    Dnsmasq(lab, *DNS_OPTIONS).start()
    box = configured(lab, "leasebox.conf.d/50-nodns.conf", "[Network]\nUseDNS=no\n").start()
    lab.wait_address()
    box.wait_bound()
    resolv = _read(box.rundir / "dns" / "veth0.conf")
    assert not [line for line in resolv.splitlines() if line.startswith("nameserver")]
    assert "example.test" in resolv  # UseDomains= is still yes: only DNS servers are off


def test_engine_settings_reach_the_server(lab: Lab) -> None:
    dns = Dnsmasq(lab).start()
    box = configured(lab, "leasebox.conf",
                     "[DHCPv4]\nClientIdentifier=duid\nHostname=from-config\n").start()
    addr = lab.wait_address()
    box.wait_bound()
    # dnsmasq's lease file: expiry MAC address hostname client-id
    (line,) = [x for x in dns.leases().splitlines() if addr["local"] in x]
    fields = line.split()
    assert fields[1] == CLIENT_MAC and fields[3] == "from-config"
    iaid = default_iaid("veth0").to_bytes(4, "big").hex(":")
    assert fields[4] == f"ff:{iaid}:00:03:00:01:{CLIENT_MAC}"  # RFC 4361 with a DUID-LL


def _status_as(directory: Path, uid: int, groups: list[int]) -> dict[str, Any] | str:
    """Ask the engine for its status from a child process running as `uid` with these
    groups, the way leaseboxctl would (one request, one reply); "EACCES" if the kernel
    refused the connection (the socket file's permissions), "ECONNRESET" if the engine
    closed it before the reply could be read. The child changes into the socket's
    directory while still root and connects by a relative name, so that pytest's private
    temporary directories need not be opened up to the test user."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: nothing may escape into pytest
        code = 1
        try:
            os.close(r)
            os.chdir(directory)
            os.setgroups(groups)
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
                sock.settimeout(5)
                try:
                    sock.connect("control.sock")
                except PermissionError:
                    code = 2
                else:
                    try:
                        sock.send(control.encode_request(
                            control.Request(control.Command.STATUS)))
                    except BrokenPipeError:
                        pass  # refused: the engine replied and closed (as leaseboxctl does)
                    try:
                        os.write(w, sock.recv(control.MAX_REPLY))
                        code = 0
                    except ConnectionResetError:
                        code = 3
        except BaseException as exc:  # noqa: BLE001 - reported through the pipe
            os.write(w, f"child: {exc!r}".encode())
        finally:
            os._exit(code)
    os.close(w)
    try:
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 2, 3), data.decode(errors="replace")
    return control.decode_reply(data) if code == 0 else {2: "EACCES", 3: "ECONNRESET"}[code]


def test_control_group_members_may_ask(lab: Lab) -> None:
    Dnsmasq(lab).start()
    box = configured(lab, "leasebox.conf", f"[Control]\nControlGroup={CONTROL_GID}\n").start()
    box.wait_bound()
    # what the socket unit's drop-in does under systemd (leasebox.conf(5), CONTROL GROUP)
    sock = box.rundir / "veth0" / "control.sock"
    os.chown(sock, 0, CONTROL_GID)
    os.chmod(sock, 0o660)
    member = _status_as(sock.parent, 54321, [CONTROL_GID])
    assert isinstance(member, dict) and member["ok"]
    assert member["result"]["state"] == "BOUND"
    assert _status_as(sock.parent, 54322, [CONTROL_GID + 1]) == "EACCES"  # the file's gate
    # with the file open to all, the engine's own check (SO_PEERCRED, SO_PEERGROUPS) decides
    os.chmod(sock, 0o666)
    for _ in range(5):  # the reply races the engine's close; either way it is refused
        assert _status_as(sock.parent, 54322, [CONTROL_GID + 1]) in (
            {"ok": False, "error": "permission denied"}, "ECONNRESET")
    supplementary = _status_as(sock.parent, 54323, [27, CONTROL_GID])
    assert isinstance(supplementary, dict) and supplementary["ok"]
