"""netconf's minimal D-Bus client against a real dbus-daemon and an independent decoder.

A private dbus-daemon (never the system bus) and fake_resolved.py, which uses Debian's
python3-dbus to decode what our client marshals. Skipped where those are not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from tests.netconf.nclab import DEBIAN_PYTHON, IFACE, INTERPRETERS, ip_json

from leasebox import ipc
from leasebox.netconf.dbus import DBusError
from leasebox.netconf.resolved import ResolvedLink

HERE = Path(__file__).resolve().parent
A = IPv4Address
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>leasebox-test</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def _have_fake_resolved() -> bool:
    if shutil.which("dbus-daemon") is None or not os.access(DEBIAN_PYTHON, os.X_OK):
        return False
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import dbus, gi"], capture_output=True,
                           timeout=30, check=False)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _have_fake_resolved(),
                                reason="needs dbus-daemon, python3-dbus and python3-gi")


class Bus:
    def __init__(self, address: str, record: Path) -> None:
        self.address = address
        self.record = record

    def calls(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


def _wait_for(cond: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    socket_path = tmp_path / "bus.sock"
    config = tmp_path / "bus.conf"
    config.write_text(BUS_CONFIG.format(path=socket_path))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_for(socket_path.exists, "dbus-daemon did not start")
        address = f"unix:path={socket_path}"
        record = tmp_path / "calls.jsonl"
        fake = subprocess.Popen([DEBIAN_PYTHON, str(HERE / "fake_resolved.py"), address,
                                 str(record)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(fake)
        assert fake.stdout is not None
        assert fake.stdout.readline().strip() == b"ready"  # bounded by the fake's own start
        yield Bus(address, record)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()


def test_client_calls_decode_in_an_independent_implementation(bus: Bus) -> None:
    link = ResolvedLink(7, bus.address)
    link.write([A("192.0.2.53"), A("198.51.100.53")], ["example.com", "corp.example"])
    link.write([], [])
    assert link.remove()
    assert bus.calls() == [
        {"call": "SetLinkDNS", "ifindex": 7, "servers": [[2, "192.0.2.53"],
                                                          [2, "198.51.100.53"]]},
        {"call": "SetLinkDomains", "ifindex": 7, "domains": [["example.com", False],
                                                              ["corp.example", False]]},
        {"call": "SetLinkDNS", "ifindex": 7, "servers": []},
        {"call": "SetLinkDomains", "ifindex": 7, "domains": []},
        {"call": "RevertLink", "ifindex": 7},
    ]


def test_client_reports_errors(bus: Bus, tmp_path: Path) -> None:
    with pytest.raises(DBusError, match="AccessDenied: Access denied"):
        ResolvedLink(7, bus.address).write([A("192.0.2.66")], [])
    with pytest.raises(OSError):
        ResolvedLink(7, f"unix:path={tmp_path / 'nobus'}").remove()
    with pytest.raises(DBusError, match="unsupported D-Bus address"):
        ResolvedLink(7, "tcp:host=127.0.0.1,port=1").remove()


@pytest.mark.root
@pytest.mark.parametrize("python", INTERPRETERS[:1])
def test_netconf_hands_dns_to_resolved(bus: Bus, netns: str, start_netconf: Any,
                                       python: str) -> None:
    nc = start_netconf(netns, python, extra_args=["--dns-to", "resolved",
                                                  "--bus-address", bus.address])
    ifindex = ip_json(netns, "link", "show", "dev", IFACE)[0]["ifindex"]
    apply = ipc.Apply(1, A("192.0.2.10"), 24, 600, None, (A("192.0.2.1"),), None,
                      (A("192.0.2.53"),), ("example.com",))
    assert nc.request(apply).status == ipc.ResultStatus.OK
    assert nc.request(ipc.Remove(2)).status == ipc.ResultStatus.OK
    assert [c["call"] for c in bus.calls()] == ["SetLinkDNS", "SetLinkDomains", "RevertLink"]
    assert {c["ifindex"] for c in bus.calls()} == {ifindex}
    assert bus.calls()[0]["servers"] == [[2, "192.0.2.53"]]

    # resolved refusing is a failed apply: the address and route are rolled back
    denied = ipc.Apply(3, A("192.0.2.10"), 24, 600, None, (A("192.0.2.1"),), None,
                       (A("192.0.2.66"),), ())
    reply = nc.request(denied)
    assert reply.status == ipc.ResultStatus.FAILED and "AccessDenied" in reply.reason
    assert [info for link in ip_json(netns, "-4", "addr", "show", "dev", IFACE)
            for info in link.get("addr_info", [])] == []
    assert bus.calls()[-1] == {"call": "RevertLink", "ifindex": ifindex}  # the undo
