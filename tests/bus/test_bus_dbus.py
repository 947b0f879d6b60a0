"""leasebox-bus's D-Bus side against a real dbus-daemon and an independent decoder.

A private dbus-daemon (never the system bus) and fake_services.py, which uses Debian's
python3-dbus to decode what leasebox-bus marshals with jeepney. Skipped where those are not
installed. A hand-written bus on a socket shows what a real one never sends: a reply with
the right serial from the wrong sender.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from jeepney import (
    DBusAddress,
    Endianness,
    HeaderFields,
    Message,
    MessageType,
    Parser,
    new_signal,
)
from jeepney.low_level import Header

from leasebox.bus.dbus import MAX_MESSAGE, MAX_QUEUED, Connection, DBusError
from leasebox.bus.links import ServicesLost
from leasebox.bus.services import RESOLVED, TIMESYNCD, BusServices
from tests.waiting import wait_for

HERE = Path(__file__).resolve().parent
DEBIAN_PYTHON = "/usr/bin/python3"
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


def _have_fakes() -> bool:
    if shutil.which("dbus-daemon") is None or not os.access(DEBIAN_PYTHON, os.X_OK):
        return False
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import dbus, gi"], capture_output=True,
                           timeout=30, check=False)
    return probe.returncode == 0


needs_fakes = pytest.mark.skipif(not _have_fakes(),
                                 reason="needs dbus-daemon and Debian's python3-dbus")


class PrivateBus:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.socket = tmp_path / "bus.sock"
        self.address = f"unix:path={self.socket}"
        self.record = tmp_path / "calls.jsonl"
        config = tmp_path / "bus.conf"
        config.write_text(BUS_CONFIG.format(path=self.socket))
        self.daemon = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.fakes: list[subprocess.Popen[bytes]] = []
        wait_for("dbus-daemon to listen", self.socket.exists, 15)

    def start(self, *which: str) -> subprocess.Popen[bytes]:
        fake = subprocess.Popen([DEBIAN_PYTHON, str(HERE / "fake_services.py"), self.address,
                                 str(self.record), *which], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.fakes.append(fake)
        assert fake.stdout is not None
        assert fake.stdout.readline().strip() == b"ready"  # bounded by the fake's own start
        return fake

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()

    def calls(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def close(self) -> None:
        for proc in [*self.fakes, self.daemon]:
            if proc.poll() is None:
                self.stop(proc)


@needs_fakes
def test_calls_decode_in_an_independent_implementation(bus: PrivateBus) -> None:
    bus.start("resolved", "timesyncd")
    services = BusServices(bus.address)
    services.set_link(7, [A("192.0.2.53"), A("198.51.100.53")], ["example.com", "corp.example"])
    services.set_ntp([A("192.0.2.123"), A("192.0.2.124")])
    services.revert_link(7)
    services.set_ntp([])
    services.close()
    assert bus.calls() == [
        {"call": "SetLinkDNS", "ifindex": 7, "servers": [[2, "192.0.2.53"],
                                                          [2, "198.51.100.53"]]},
        {"call": "SetLinkDomains", "ifindex": 7, "domains": [["example.com", False],
                                                              ["corp.example", False]]},
        {"call": "SetRuntimeNTPServers", "servers": ["192.0.2.123", "192.0.2.124"]},
        {"call": "RevertLink", "ifindex": 7},
        {"call": "SetRuntimeNTPServers", "servers": []},
    ]


@needs_fakes
def test_the_watchdog_is_pinged_before_each_wait_on_the_bus(bus: PrivateBus) -> None:
    """Each call waits up to CALL_TIMEOUT, and one turn of the bus's loop may chain many
    (the connection and its two watches, two calls a link): the loop's watchdog is
    pinged before each, not only once a turn."""
    bus.start("resolved")
    services = BusServices(bus.address)
    pings: list[None] = []
    services.before_wait = lambda: pings.append(None)
    try:
        services.set_link(7, [A("192.0.2.53")], ["example.com"])
        assert len(pings) == 5  # connect, 2 watches, SetLinkDNS, SetLinkDomains
        services.set_link(8, [A("192.0.2.54")], [])
        assert len(pings) == 7
    finally:
        services.close()


@needs_fakes
def test_the_leases_ntp_servers_come_after_the_administrators(bus: PrivateBus) -> None:
    """timesyncd tries its runtime servers instead of those of NTP= in timesyncd.conf: the
    administrator's go first, as with networkd's link servers; a server in both, once."""
    bus.start("timesyncd:ntp.example.org,192.0.2.9")
    services = BusServices(bus.address)
    services.set_ntp([A("192.0.2.123"), A("192.0.2.9")])
    services.set_ntp([])  # nothing of the leases': the administrator's list as it was
    services.close()
    assert bus.calls() == [
        {"call": "SetRuntimeNTPServers", "servers": ["ntp.example.org", "192.0.2.9",
                                                     "192.0.2.123"]},
        {"call": "SetRuntimeNTPServers", "servers": []},
    ]


@needs_fakes
def test_errors_name_the_callee_and_absence(bus: PrivateBus, tmp_path: Path) -> None:
    bus.start("resolved")
    services = BusServices(bus.address)
    with pytest.raises(DBusError, match="AccessDenied: Access denied") as denied:
        services.set_link(7, [A("192.0.2.66")], [])
    assert denied.value.name == "org.freedesktop.DBus.Error.AccessDenied"
    # the link is systemd-networkd's: what to do about it, with resolved's own words
    with pytest.raises(DBusError, match=r"Unmanaged=yes .*LinkBusy: Link 7 is managed") as busy:
        services.set_link(7, [A("192.0.2.77")], [])
    assert busy.value.name == "org.freedesktop.resolve1.LinkBusy"
    # handed (back) to networkd: resolved holds networkd's DNS for it, nothing of ours
    services.revert_link(77)
    # resolved gone mid-call (the bus answers NoReply): it may have acted, as a timeout
    with pytest.raises(ServicesLost, match="NoReply"):
        services.set_link(7, [A("192.0.2.88")], [])
    with pytest.raises(DBusError, match="timesync1 is not on the bus"):
        services.set_ntp([A("192.0.2.1")])
    services.close()
    with pytest.raises(OSError):
        BusServices(f"unix:path={tmp_path / 'nobus'}").set_ntp([])
    # no connection at all: a round of calls ends here (links.ServicesLost)
    with pytest.raises(ServicesLost, match="unsupported D-Bus address"):
        BusServices("tcp:host=127.0.0.1,port=1").set_ntp([])


@needs_fakes
def test_signals_neither_fail_nor_delay_a_call(bus: PrivateBus) -> None:
    """Any client may send us signals; they are set aside, never counted against a call."""
    bus.start("resolved")
    with Connection(bus.address) as ours, Connection(bus.address) as theirs:
        noise = new_signal(DBusAddress("/x", interface="org.example.Noise"), "Noise", "s",
                           ("x" * 100,))
        noise.header.fields[HeaderFields.destination] = ours.unique_name
        deadline = time.monotonic() + 5
        for _ in range(500):
            theirs.send(noise, deadline)
        started = time.monotonic()
        ours.call(RESOLVED, "RevertLink", "i", (3,))
        assert time.monotonic() - started < 2.0
    assert bus.calls() == [{"call": "RevertLink", "ifindex": 3}]


@needs_fakes
def test_owner_changes_are_seen(bus: PrivateBus) -> None:
    with Connection(bus.address) as conn:
        conn.watch_owner(TIMESYNCD.bus_name)
        fake = bus.start("timesyncd")
        seen: list[tuple[str, str]] = []

        def arrived() -> bool:
            seen.extend(conn.owner_changes())
            return any(name == TIMESYNCD.bus_name and owner for name, owner in seen)

        wait_for("NameOwnerChanged for timesync1", arrived, 15)
        bus.stop(fake)
        seen.clear()
        def left() -> bool:
            seen.extend(conn.owner_changes())
            return (TIMESYNCD.bus_name, "") in seen

        wait_for("timesync1 leaving", left, 15)


# ---- a hand-written bus: what a real one would never send ---------------------------------


def _message(kind: MessageType, fields: dict[HeaderFields, Any], signature: str,
             body: tuple[Any, ...]) -> Message:
    if signature:
        fields = {**fields, HeaderFields.signature: signature}
    return Message(Header(Endianness.little, kind, 0, 1, -1, -1, fields), body)


def _fake_bus(listener: socket.socket, script: list[Any]) -> None:
    """Accept one client, authenticate it, answer Hello and GetNameOwner, then send
    `script(serial)`'s messages in reply to its next call."""
    conn, _ = listener.accept()
    conn.settimeout(5)
    with conn:
        data, said_ok = b"", False
        while b"BEGIN\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
            if not said_ok and b"\r\n" in data:  # the AUTH line
                conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
                said_ok = True
        parser = Parser()
        parser.add_data(data.split(b"BEGIN\r\n", 1)[1])  # Hello may follow in one read
        bus_name = "org.freedesktop.DBus"
        for reply_to in script:
            msg = None
            while msg is None:
                msg = parser.get_next_message()
                if msg is None:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    parser.add_data(chunk)
            serial = msg.header.serial
            for kind, sender, signature, body, *member in reply_to:
                fields = {HeaderFields.sender: sender or bus_name,
                          HeaderFields.destination: ":1.1"}
                if kind is not MessageType.signal:
                    fields[HeaderFields.reply_serial] = serial
                elif member:  # the bus's own signal
                    fields.update({HeaderFields.path: "/org/freedesktop/DBus",
                                   HeaderFields.interface: bus_name,
                                   HeaderFields.member: member[0]})
                else:
                    fields.update({HeaderFields.path: "/x", HeaderFields.interface: "a.b",
                                   HeaderFields.member: "Noise"})
                out = _message(kind, fields, signature, body)
                conn.sendall(out.serialise(serial=1000 + serial))


@contextmanager
def fake_bus(tmp_path: Path, script: list[Any]) -> Iterator[str]:
    """A hand-written bus (_fake_bus) serving one client; its address."""
    path = tmp_path / "fake.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    thread = threading.Thread(target=_fake_bus, args=(listener, script), daemon=True)
    thread.start()
    try:
        yield f"unix:path={path}"
    finally:
        thread.join(timeout=10)
        listener.close()


def test_reply_is_taken_only_from_the_owner(tmp_path: Path) -> None:
    ok, sig = MessageType.method_return, MessageType.signal
    script = [
        [(ok, "", "s", (":1.1",))],  # Hello
        [(ok, "", "s", (":1.9",))],  # GetNameOwner(org.freedesktop.resolve1)
        [(ok, ":1.666", "s", ("impostor",)),  # right serial, wrong sender: not the reply
         *[(sig, ":1.666", "", ())] * 50,
         (ok, ":1.9", "s", ("genuine",))],
    ]
    with fake_bus(tmp_path, script) as address, Connection(address, timeout=5) as conn:
        assert conn.call(RESOLVED, "RevertLink", "i", (1,)) == ("genuine",)


def test_a_signal_read_with_a_reply_is_kept_for_the_loop(tmp_path: Path) -> None:
    """timesyncd restarts while leasebox-bus waits for resolved's answer: the bus's
    NameOwnerChanged comes before the reply, is read with it, and the socket will not
    announce it again. `queued` tells the loop to look."""
    ok, sig = MessageType.method_return, MessageType.signal
    changed = ("org.freedesktop.timesync1", ":1.7", ":1.42")
    script = [
        [(ok, "", "s", (":1.1",))],  # Hello
        [(ok, "", "s", (":1.9",))],  # GetNameOwner(org.freedesktop.resolve1)
        [(sig, "", "sss", changed, "NameOwnerChanged"), (ok, ":1.9", "", ())],
        [],  # open until the client closes
    ]
    with fake_bus(tmp_path, script) as address, Connection(address, timeout=5) as conn:
        conn.call(RESOLVED, "RevertLink", "i", (1,))
        assert conn.queued()
        assert list(conn.owner_changes()) == [("org.freedesktop.timesync1", ":1.42")]
        assert not conn.queued()


def test_a_silent_bus_times_out(tmp_path: Path) -> None:
    path = tmp_path / "silent.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    try:
        started = time.monotonic()
        with pytest.raises(DBusError, match="no answer in time"):
            Connection(f"unix:path={path}", timeout=0.5)
        assert time.monotonic() - started < 3
    finally:
        listener.close()


def test_the_bus_own_error_for_a_call_ends_it_at_once(tmp_path: Path) -> None:
    """resolved left between GetNameOwner and the call: dbus-daemon answers the call with an
    error of its own (sender org.freedesktop.DBus), not the callee; it ends the call now,
    not at the time limit."""
    ok, err = MessageType.method_return, MessageType.error
    script = [
        [(ok, "", "s", (":1.1",))],  # Hello
        [(ok, "", "s", (":1.9",))],  # GetNameOwner(org.freedesktop.resolve1)
        [(err, "", "s", ("gone",))],  # from the bus itself
        [],
    ]
    with fake_bus(tmp_path, script) as address, Connection(address, timeout=5) as conn:
        started = time.monotonic()
        with pytest.raises(DBusError):
            conn.call(RESOLVED, "RevertLink", "i", (1,))
        assert time.monotonic() - started < 2.0


def test_a_flood_of_signals_does_not_push_out_an_owner_change(tmp_path: Path) -> None:
    """Any local client may send us signals: only the bus's NameOwnerChanged is queued."""
    ok, sig = MessageType.method_return, MessageType.signal
    changed = ("org.freedesktop.timesync1", ":1.7", ":1.42")
    forged = ("org.freedesktop.timesync1", ":1.42", "")
    script = [
        [(ok, "", "s", (":1.1",))],  # Hello
        [(ok, "", "s", (":1.9",))],  # GetNameOwner(org.freedesktop.resolve1)
        [(sig, "", "sss", changed, "NameOwnerChanged"),
         *[(sig, ":1.666", "", ())] * (MAX_QUEUED + 10),
         (sig, ":1.666", "sss", forged, "NameOwnerChanged"),  # not from the bus
         (ok, ":1.9", "", ())],
        [],
    ]
    with fake_bus(tmp_path, script) as address, Connection(address, timeout=5) as conn:
        conn.call(RESOLVED, "RevertLink", "i", (1,))
        assert list(conn.owner_changes()) == [("org.freedesktop.timesync1", ":1.42")]


@needs_fakes
def test_a_signal_that_names_a_descriptor_it_lacks_is_dropped(bus: PrivateBus) -> None:
    """Any local user may send us a signal whose body is a file descriptor's index
    (signature "h") with no descriptor: the bus passes it on, and jeepney's parser raised
    IndexError out of leasebox-bus (a traceback and exit, again at each restart, until
    its start limit stopped every DNS hand-off). It is dropped, and the stream stays in
    step for the calls after it."""
    bus.start("resolved")
    with Connection(bus.address) as ours, Connection(bus.address) as theirs:
        body = struct.pack("<I", 0)
        header = Header(Endianness.little, MessageType.signal, 0, 1, len(body), 0, {
            HeaderFields.path: "/x", HeaderFields.interface: "org.example.Noise",
            HeaderFields.member: "Noise", HeaderFields.signature: "h",
            HeaderFields.destination: ours.unique_name})
        theirs.serial += 1
        head = header.serialise(serial=theirs.serial)
        theirs.sock.sendall(head + b"\0" * (-len(head) % 8) + body)
        small = new_signal(DBusAddress("/x", interface="org.example.Noise"), "Noise", "s",
                           ("after",))
        small.header.fields[HeaderFields.destination] = ours.unique_name
        theirs.send(small, time.monotonic() + 5)
        time.sleep(0.2)  # both are in our socket before we read
        assert list(ours.owner_changes()) == []
        assert ours.unparsed == 1
        ours.call(RESOLVED, "RevertLink", "i", (4,))
    assert bus.calls() == [{"call": "RevertLink", "ifindex": 4}]


@needs_fakes
def test_a_signal_too_large_to_take_is_dropped_not_the_connection(bus: PrivateBus) -> None:
    """Any local user may send us a signal as large as the bus allows: it was taken for a
    broken connection (ServicesLost), every call failing, again after each reconnect. It
    is dropped as it streams by, never buffered, and the calls go on."""
    bus.start("resolved")
    with Connection(bus.address) as ours, Connection(bus.address) as theirs:
        deadline = time.monotonic() + 10
        for size in (MAX_MESSAGE + 1, 3 * MAX_MESSAGE):
            noise = new_signal(DBusAddress("/x", interface="org.example.Noise"), "Noise",
                               "ay", (b"x" * size,))
            noise.header.fields[HeaderFields.destination] = ours.unique_name
            theirs.send(noise, deadline)
        small = new_signal(DBusAddress("/x", interface="org.example.Noise"), "Noise", "s",
                           ("after",))
        small.header.fields[HeaderFields.destination] = ours.unique_name
        theirs.send(small, deadline)
        ours.call(RESOLVED, "RevertLink", "i", (4,))
        assert not ours.queued()  # nothing of it kept, and the stream still in step
        ours.call(RESOLVED, "RevertLink", "i", (5,))
    assert bus.calls() == [{"call": "RevertLink", "ifindex": 4},
                           {"call": "RevertLink", "ifindex": 5}]
