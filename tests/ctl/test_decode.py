"""`leaseboxctl decode`, run as the real console entry point in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from tests.wire.wire_samples import MAC, opt, raw_ack, typical_ack

from leasebox import __version__
from leasebox.core.wire import encode, encode_frame

BIN = Path(sys.executable).parent / "leaseboxctl"
COMMAND = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "leasebox.ctl.main"]
ACK = encode(typical_ack(captive_portal="https://portal.example/login",
                         ipv6_only_preferred=1800, client_id=b"\x01" + MAC))
FRAME = encode_frame(ACK, src_mac=bytes.fromhex("02005e100002"), dst_mac=MAC,
                     src_ip=IPv4Address("192.0.2.1"), dst_ip=IPv4Address("192.0.2.10"),
                     src_port=67, dst_port=68)
KEYS = {"op", "xid", "yiaddr", "siaddr", "chaddr", "message_type", "server_id", "lease_time",
        "renewal_time", "rebinding_time", "subnet_mask", "routers", "dns_servers",
        "domain_name", "domain_search", "classless_static_routes", "mtu", "ntp_servers",
        "hostname", "ipv6_only_preferred", "captive_portal", "ciaddr", "giaddr", "flags",
        "client_id", "dropped", "drop_reasons"}


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*COMMAND, *args], input=stdin, capture_output=True, timeout=30,
                          check=False)


def decoded(*args: str, stdin: bytes = b"") -> dict[str, object]:
    result = run("decode", *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    out: dict[str, object] = json.loads(result.stdout)
    return out


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], status: int,
                          prefix: str) -> None:
    assert result.returncode == status
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), lines[0]
    assert "Traceback" not in lines[0]


def test_decode_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ack.bin"
    path.write_bytes(ACK)
    out = decoded(str(path))
    assert KEYS <= out.keys()
    assert out["op"] == "BOOTREPLY"
    assert out["message_type"] == "ACK"
    assert out["xid"] == 0x3903F326
    assert out["yiaddr"] == "192.0.2.10"
    assert out["chaddr"] == "02:00:5e:10:00:01"
    assert out["server_id"] == "192.0.2.1"
    assert (out["lease_time"], out["renewal_time"], out["rebinding_time"]) == (
        86400, 43200, 75600)
    assert out["subnet_mask"] == "255.255.255.0"
    assert out["routers"] == ["192.0.2.1"]
    assert out["dns_servers"] == ["192.0.2.53", "198.51.100.53"]
    assert out["domain_name"] == "example.com"
    assert out["domain_search"] == ["example.com", "corp.example.com", "lab.corp.example.com"]
    assert out["classless_static_routes"] == ["198.51.100.0/24 via 192.0.2.254",
                                              "0.0.0.0/0 via 192.0.2.1"]
    assert out["mtu"] == 1500
    assert out["ntp_servers"] == ["192.0.2.123"]
    assert out["hostname"] == "client-1"
    assert out["ipv6_only_preferred"] == 1800
    assert out["captive_portal"] == "https://portal.example/login"
    assert out["client_id"] == "01" + MAC.hex()
    assert out["dropped"] == []


def test_decode_stdin() -> None:
    assert decoded(stdin=ACK)["message_type"] == "ACK"
    assert decoded("-", stdin=ACK)["message_type"] == "ACK"


def test_decode_hex_with_whitespace() -> None:
    text = ACK.hex()
    spaced = "\n".join(" ".join(text[i : i + 2] for i in range(j, min(j + 32, len(text)), 2))
                       for j in range(0, len(text), 32)) + "\n"
    assert decoded("--hex", stdin=spaced.encode())["message_type"] == "ACK"
    assert decoded("--hex", stdin=text.upper().encode())["message_type"] == "ACK"


def test_decode_frame(tmp_path: Path) -> None:
    path = tmp_path / "frame.bin"
    path.write_bytes(FRAME)
    out = decoded("--frame", str(path))
    assert out["message_type"] == "ACK"
    assert out["frame"] == {"src_mac": "02:00:5e:10:00:02", "dst_mac": "02:00:5e:10:00:01",
                            "src_ip": "192.0.2.1", "dst_ip": "192.0.2.10",
                            "src_port": 67, "dst_port": 68}


def test_a_capture_with_checksum_offload_decodes_with_no_checksum(tmp_path: Path) -> None:
    """Captured on the host that sent it (veth, a VM), a frame's UDP checksum is not
    filled in yet: --no-checksum decodes it, as io takes such a frame from the kernel."""
    udp_checksum = 14 + 20 + 6
    offloaded = FRAME[:udp_checksum] + b"\x12\x34" + FRAME[udp_checksum + 2:]
    path = tmp_path / "frame.bin"
    path.write_bytes(offloaded)
    refused = run("decode", "--frame", str(path))
    assert refused.returncode == 65 and b"UDP checksum mismatch" in refused.stderr
    assert decoded("--frame", "--no-checksum", str(path))["message_type"] == "ACK"
    assert run("decode", "--frame", "--no-checksum", "--hex",
               stdin=b"00").returncode == 65  # too short: said, not a crash


def test_decode_frame_hex() -> None:
    assert decoded("--frame", "--hex", stdin=FRAME.hex().encode())["yiaddr"] == "192.0.2.10"


def test_dropped_options_and_hostile_strings_are_reported_safely() -> None:
    data = raw_ack(opt(12, b"x;reboot\x1b[2J"), opt(1, b"\xff"), opt(200, b"\x00\x1b"))
    result = run("decode", stdin=data)
    assert result.returncode == 0
    assert result.stdout.isascii() and b"\x1b" not in result.stdout
    out = json.loads(result.stdout)
    assert out["hostname"] is None
    assert out["dropped"] == [1, 12]
    assert out["unknown"] == [{"code": 200, "hex": "001b"}]


@pytest.mark.parametrize(("args", "stdin"), [
    ((), ACK[:239]),
    ((), b""),
    ((), b"\x03" + ACK[1:]),
    ((), raw_ack(opt(6, b"", length=200), end=b"", pad_to=0)),
    (("--frame",), ACK),
    (("--frame",), FRAME[:-1]),
    (("--frame",), FRAME[:24] + b"\0\0" + FRAME[26:]),
    (("--hex",), ACK[:100].hex().encode()),
])
def test_malformed_input_exits_65_with_one_line(args: tuple[str, ...], stdin: bytes) -> None:
    assert_one_line_error(run("decode", *args, stdin=stdin), 65,
                          "leaseboxctl: malformed DHCP message: ")


@pytest.mark.parametrize("text", [b"zz", b"abc", b"0g", "é".encode(), b"\x00\xff"])
def test_bad_hex_exits_65_with_one_line(text: bytes) -> None:
    assert_one_line_error(run("decode", "--hex", stdin=text), 65,
                          "leaseboxctl: invalid hex input: ")


def test_unreadable_file_exits_66_with_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run("decode", str(tmp_path / "missing")), 66, "leaseboxctl: cannot read")
    assert_one_line_error(run("decode", str(tmp_path)), 66, "leaseboxctl: cannot read")


def test_oversized_input_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(bytes(1 << 20))
    assert_one_line_error(run("decode", str(path)), 65, "leaseboxctl: input longer than")


@pytest.mark.parametrize("args", [("decode", "--bogus"), ("decode", "a", "b"),
                                  ("status", "bad/name"), ("renew",)])
def test_usage_errors_exit_64(args: tuple[str, ...]) -> None:
    assert_one_line_error(run(*args), 64, "leaseboxctl")


def test_help_works() -> None:
    result = run("decode", "--help")
    assert result.returncode == 0 and b"--frame" in result.stdout


def test_main_module_imports_nothing_heavy() -> None:
    # main.py will also serve status/renew over sockets: subcommands import their own
    # modules, so starting the program loads neither the codec nor json.
    code = ("import sys, leasebox.ctl.main; "
            "print(sorted(m for m in ('leasebox.core.wire', 'json', 'socket') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                            timeout=30)
    assert result.stdout.strip() == b"[]"


def test_version() -> None:
    for args in (("--version",), ("eth0", "--version"), ("status", "--version")):
        result = run(*args)
        assert (result.returncode, result.stdout) == (
            0, f"leaseboxctl (leasebox) {__version__}\n".encode()), args
    assert run("--vers").returncode == 64  # no abbreviations


def test_no_checksum_needs_a_frame() -> None:
    result = run("decode", "--no-checksum", stdin=b"")
    assert result.returncode == 64 and b"--no-checksum needs --frame" in result.stderr


@pytest.mark.parametrize("args", [(), ("nosuch0",), ("status", "nosuch0"), ("renew", "nosuch0")])
def test_no_daemon_exits_69_with_one_line(args: tuple[str, ...], tmp_path: Path) -> None:
    # no subcommand means status; an interface with no control socket is "not running"
    result = run("--runtime-dir", str(tmp_path), *args)
    assert_one_line_error(result, 69, "leaseboxctl:")
    assert result.stdout == b""
    if args:  # where to look: a failed service's status says why (a configuration error)
        assert b"systemctl status leasebox@nosuch0.target says why" in result.stderr


@pytest.mark.parametrize(("args", "meant"), [(("renwe", "nosuch0"), "renew"),
                                             (("relase", "nosuch0"), "release"),
                                             (("-q", "statsu"), "status")])
def test_a_mistyped_command_is_a_usage_error(args: tuple[str, ...], meant: str,
                                              tmp_path: Path) -> None:
    """A word close to a command that no interface has is taken for a mistyped command
    (64), not for an interface leasebox does not run on (69)."""
    result = run("--runtime-dir", str(tmp_path), *args)
    assert_one_line_error(result, 64, "leaseboxctl: unknown command")
    assert f"did you mean {meant!r}?".encode() in result.stderr
    # an interface name unlike any command is still asked for
    assert run("--runtime-dir", str(tmp_path), "nosuch0").returncode == 69


@pytest.mark.parametrize("command", ["wait-online", "dispatch nosuch0"])
@pytest.mark.parametrize("value", ["-1", "5e9", "inf", "nan"])
def test_a_timeout_out_of_range_is_a_usage_error(command: str, value: str) -> None:
    """Past 2**31 s the dispatcher's lock wait overflowed setitimer: a traceback, the
    event left queued, and the path unit starting the dispatcher again at once, for ever."""
    result = run(*command.split(), "--timeout", value)
    assert_one_line_error(result, 64, "leaseboxctl")
    assert b"seconds must be 0 to 2147483647" in result.stderr


def test_the_global_options_go_after_the_command_too(tmp_path: Path) -> None:
    """`leaseboxctl renew -q eth0`, as systemctl takes its options: it was a usage error
    (64), though leaseboxctl(8) lists -q for renew, release, leave and wait-online."""
    (tmp_path / "eth9").mkdir()
    for args in (["renew", "-q", "eth9", "--runtime-dir", str(tmp_path)],
                 ["status", f"--runtime-dir={tmp_path}", "eth9"],
                 ["--runtime-dir", "/nonexistent", "release", "--runtime-dir", str(tmp_path),
                  "eth9"]):
        result = run(*args)
        # the directory after the command is the one asked (no control.sock in it)
        assert result.returncode == 69, result.stderr
        assert f"no {tmp_path}/eth9/control.sock".encode() in result.stderr
    quiet = run("wait-online", "-q", "--timeout", "0", "--runtime-dir", str(tmp_path))
    assert quiet.returncode != 64, quiet.stderr


@pytest.mark.parametrize("value", ["-1", "x", "1.5"])
def test_a_monitor_count_not_zero_or_more_is_a_usage_error(value: str) -> None:
    """journalctl -n -1 shows nothing; here it had meant no earlier event, silently."""
    result = run("monitor", "-n", value)
    assert_one_line_error(result, 64, "leaseboxctl")
    assert b"argument -n/--lines" in result.stderr


def test_a_name_close_to_a_command_is_an_interface_when_leasebox_runs_on_it(
        tmp_path: Path) -> None:
    """leasebox runs on (and waits for) interfaces not there yet: a control socket makes a
    name an interface, as does `--` before it."""
    (tmp_path / "leave0").mkdir()
    (tmp_path / "leave0" / "control.sock").touch()
    for args in (("leave0",), ("status", "leave0"), ("--", "renwe")):
        result = run("--runtime-dir", str(tmp_path), *args)
        assert_one_line_error(result, 69, "leaseboxctl:")
    assert run(f"--runtime-dir={tmp_path}", "leave0").returncode == 69


def test_a_reader_that_went_ends_it_quietly(tmp_path: Path) -> None:
    """`leaseboxctl status --json eth0 | missing-command`: the output's reader is gone.
    leaseboxctl ends as a program SIGPIPE killed would (141), without a Python traceback
    or complaint; `decode` itself ends 0, as `| head` is how it is read."""
    # stdout buffered, as a user's shell leaves it, and unbuffered (PYTHONUNBUFFERED=1):
    # with a buffer, decode's output went again at exit, and it ended 141
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    for env in (plain, {**plain, "PYTHONUNBUFFERED": "1"}):
        read, write = os.pipe()
        os.close(read)
        try:
            result = subprocess.run([*COMMAND, "check-config", "--json", "--config-root",
                                     str(tmp_path)], stdout=write, stderr=subprocess.PIPE,
                                    timeout=30, check=False, env=env)
            hexed = subprocess.run([*COMMAND, "decode", "--hex"], input=ACK.hex().encode(),
                                   stdout=write, stderr=subprocess.PIPE, timeout=30,
                                   check=False, env=env)
        finally:
            os.close(write)
        assert (result.returncode, result.stderr) == (141, b"")
        assert (hexed.returncode, hexed.stderr) == (0, b"")


def test_a_closed_stdout_is_no_crash(tmp_path: Path) -> None:
    """Started with its standard output closed (`>&-`), leaseboxctl does its work and
    exits with its own status, without a traceback (Python's sys.stdout is None then)."""
    result = subprocess.run([*COMMAND, "--runtime-dir", str(tmp_path), "renew", "eth9"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30,
                            check=False, close_fds=True,
                            preexec_fn=lambda: os.close(1))
    assert result.returncode == 69, result.stderr
    assert b"Traceback" not in result.stderr
