"""Every setting's parser, with good and bad values, through the parser as a file would."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from leasebox.config import settings as s
from leasebox.config import values as v
from leasebox.config.parse import ConfigError, parse
from leasebox.config.values import ClientIdentifier
from leasebox.core.values import ProbeTiming

# 250 characters, whose option 81 is 255 octets: one option, not two parts (see values.fqdn)
LONGEST_FQDN = ".".join(["x" * 61] * 4) + ".ab"

BOOL_GOOD = [("yes", True), ("no", False), ("TRUE", True), ("off", False), ("1", True),
             ("0", False), ("On", True), ("n", False)]
BOOL_BAD = [("maybe", "not a boolean"), ("2", "not a boolean"), ("yes please", "not a boolean")]

# name -> (good: [(text, value)], bad: [(text, part of the message)])
CASES: dict[str, tuple[list[tuple[str, Any]], list[tuple[str, str]]]] = {
    "ClientIdentifier": (
        [("mac", ClientIdentifier.MAC), ("duid", ClientIdentifier.DUID),
         ("none", ClientIdentifier.NONE)],
        [("MAC", "expected one of mac, duid, none"), ("duid-only", "expected one of")]),
    "DUID": (
        [("00:04:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10",
          bytes.fromhex("0004") + bytes(range(1, 17))),
         ("000300010200" + "5e100001", bytes.fromhex("0003000102005e100001")),
         ("00:02:01", b"\x00\x02\x01")],
        [("00:03", "not 2"), ("zz:00:01", "not hex octets"), ("0:3:0:1", "not hex octets"),
         ("00:03:" + ":".join(["aa"] * 129), "not 131 octets"),
         ("00:03::01", "not hex octets")]),
    "IAID": (
        [("0", 0), ("4294967295", 0xFFFFFFFF), ("0x0a0B0c0D", 0x0A0B0C0D)],
        [("4294967296", "out of range"), ("0x", "not a 32-bit number"),
         ("0x123456789", "not a 32-bit number"), ("-1", "not an unsigned number")]),
    "SendHostname": (BOOL_GOOD, BOOL_BAD),
    "Hostname": (
        [("host", "host"), ("a-b.example.test", "a-b.example.test"), ("x" * 63, "x" * 63)],
        [("-host", "not an RFC 1123 name"), ("host_1", "not an RFC 1123 name"),
         ("a b", "not an RFC 1123 name"), ("x" * 64, "not an RFC 1123 name"),
         ("h\u00f6st", "not an RFC 1123 name"), ("$(reboot)", "not an RFC 1123 name")]),
    "VendorClassIdentifier": (
        [("leasebox 0.1", "leasebox 0.1"), ("MSFT 5.0", "MSFT 5.0"), ("x" * 255, "x" * 255)],
        [("x" * 256, "printable ASCII"), ("caf\u00e9", "printable ASCII"),
         ("tab\there", "printable ASCII")]),
    "RequestOptions": (
        [("100", (100,)), ("1 254  42", (1, 254, 42)), ("-42 100", (-42, 100))],
        [("0", "not an option code 1..254"), ("255", "not an option code"),
         ("1" * 5000, "not an option code"), ("0" * 5000 + "1" * 5000, "not an option"),
         ("1,2", "not an option code"), ("x", "not an option code"),
         ("-1", "cannot be taken out"), ("-54", "cannot be taken out"),
         ("--3", "not an option code")]),
    "SendRelease": (
        [("yes", v.SendRelease.YES), ("no", v.SendRelease.NO), ("TRUE", v.SendRelease.YES),
         ("off", v.SendRelease.NO), ("always", v.SendRelease.ALWAYS),
         ("Always", v.SendRelease.ALWAYS)],
        [("maybe", "expected yes, no or always"), ("2", "expected yes, no or always"),
         ("never", "expected yes, no or always")]),
    "RapidCommit": (BOOL_GOOD, BOOL_BAD),
    "UseCaptivePortal": (BOOL_GOOD, BOOL_BAD),
    "RequestBroadcast": (BOOL_GOOD, BOOL_BAD),
    "SendOption": (
        [("200:uint8:7", ((200, b"\x07"),)), ("200:uint16:258", ((200, b"\x01\x02"),)),
         ("201:uint32:1", ((201, b"\x00\x00\x00\x01"),)),
         ("202:ipv4address:192.0.2.1,192.0.2.2", ((202, bytes([192, 0, 2, 1, 192, 0, 2, 2])),)),
         ("203:string:hello world", ((203, b"hello world"),)),
         ("204:hex:00:ff", ((204, b"\x00\xff"),))],
        [("200", "expected CODE:TYPE:VALUE"),
         # the range, not Python's "int too big to convert"
         ("200:uint8:256", "'256' is not a uint8: out of range 0..255"),
         ("200:uint16:65536", "out of range 0..65535"),
         ("200:float:1", "unknown type"), ("61:hex:01", "from its own setting"),
         ("51:uint32:3600", "reads from the server"), ("114:string:x", "reads from the server"),
         ("0:uint8:1", "not an option code"), ("200:string:", "not a string"),
         ("200:ipv4address:1.2.3", "not an ipv4address")]),
    "SendVendorOption": (
        [("1:string:x", ((1, b"x"),)), ("254:uint8:3", ((254, b"\x03"),))],
        [("1:uint8:-1", "not a uint8"), ("300:uint8:1", "not an option code")]),
    "UserClass": (
        [("gold", (b"gold",)), ("gold silver", (b"gold", b"silver"))],
        [("g\u00e9", "not a user class"),
         # networkd takes quotes apart; sent as they are, they made classes '"corp', 'laptop"'
         ('"corp laptop"', "no quotes or backslashes"), ("'corp'", "no quotes"),
         ("corp\\", "backslashes")]),
    "FQDN": ([("host.example.com", "host.example.com"), ("host.example.com.", "host.example.com"),
              ("a.b", "a.b"), (LONGEST_FQDN + ".", LONGEST_FQDN)],
             [("host", "not fully qualified"), ("-x.example", "not an RFC 1123 name"),
              ("a..b", "not an RFC 1123 name"),
              ("x" + LONGEST_FQDN, "longer than 250 characters, all that one client FQDN")]),
    "ARPProbeTiming": ([("fast", ProbeTiming.FAST), ("rfc5227", ProbeTiming.RFC5227)],
                       [("yes", "expected fast or rfc5227"), ("RFC5227", "expected fast")]),
    "FQDNUpdate": ([("both", v.FQDNUpdate.BOTH), ("ptr", v.FQDNUpdate.PTR),
                    ("none", v.FQDNUpdate.NONE)],
                   [("yes", "expected both, ptr or none"), ("a", "expected both, ptr or none")]),
    "RouteTable": ([("main", 254), ("100", 100), ("4294967295", 4294967295)],
                   [("0", "reserved"), ("255", "reserved"), ("253", "reserved"),
                    ("local", "not an unsigned number"), ("-1", "not an unsigned number")]),
    "RequestAddress": (
        [("192.0.2.123", IPv4Address("192.0.2.123")), ("10.1.2.3", IPv4Address("10.1.2.3"))],
        [("192.0.2", "not an IPv4 address"), ("eth0", "not an IPv4 address"),
         ("0.0.0.1", "not an address a host may hold"),
         ("127.0.0.1", "not an address a host may hold"),
         ("224.0.0.1", "not an address a host may hold"),
         ("255.255.255.255", "not an address a host may hold")]),
    "IPv6OnlyPreferred": (BOOL_GOOD, BOOL_BAD),
    "Anonymize": (BOOL_GOOD, BOOL_BAD),
    "ARPProbe": (BOOL_GOOD, BOOL_BAD),
    "MinimumLeaseTime": (
        [("0", 0), ("90", 90), ("90s", 90), ("5min", 300), ("2h", 7200), ("1d", 86400),
         ("1h 30min", 5400), ("1h30min", 5400), ("5 min", 300), ("10 sec", 10),
         # systemd.time(7)'s long names
         ("2hours", 7200), ("1day", 86400), ("10minutes", 600), ("30 seconds", 30)],
        [("soon", "not a time span"), ("5 weeks", "more than a day"), ("-5", "not a time"),
         # case matters, as in systemd: "M" is a month there, not a minute
         ("1M", "not a time span"), ("1H", "not a time span"), ("5MIN", "not a time span"),
         ("1.5h", "not a time span"), ("2d", "more than a day"), ("\u0665", "not a time"),
         ("9" * 5000 + "s", "longer than")]),
    "UseDNS": (BOOL_GOOD, BOOL_BAD),
    "UseNTP": (BOOL_GOOD, BOOL_BAD),
    "UseDomains": (BOOL_GOOD, BOOL_BAD),
    "UseRoutes": (BOOL_GOOD, BOOL_BAD),
    "UseGateway": (BOOL_GOOD, BOOL_BAD),
    "UseMTU": (BOOL_GOOD, BOOL_BAD),
    "LinkUp": (BOOL_GOOD, BOOL_BAD),
    "AllowServers": ([("192.0.2.1", (IPv4Address("192.0.2.1"),)),
                      ("02:00:00:00:00:aa", (bytes.fromhex("0200000000aa"),))],
                     [("rogue", "not an IPv4 address or a MAC"), ("1.2.3", "not an IPv4")]),
    "DenyServers": ([("192.0.2.1", (IPv4Address("192.0.2.1"),))], [("x", "not an IPv4")]),
    "MinimumMTU": ([("576", 576), ("1280", 1280), ("65535", 65535)],
                   [("575", "out of range"), ("65536", "out of range"), ("x", "unsigned")]),
    "RouteMetric": (
        [("0", 0), ("2048", 2048), ("4294967295", 0xFFFFFFFF), ("0" * 5000 + "7", 7)],
        [("-1", "not an unsigned number"), ("4294967296", "out of range"),
         ("1e3", "not an unsigned number"), ("\u0661", "not an unsigned number"),
         ("9" * 5000, "out of range"),  # not Python's own words for int()'s digit limit
         ("0" * 5000 + "9" * 5000, "out of range")]),
    "ClasslessRoutes": (
        [("main", 254), ("ignore", None), ("table:100", 100), ("table:4294967295", 0xFFFFFFFF)],
        [("table:0", "reserved"), ("table:253", "reserved"), ("table:255", "reserved"),
         ("table:x", "not an unsigned number"), ("table", "main, ignore or table:N"),
         ("Main", "main, ignore or table:N"), ("254", "main, ignore or table:N")]),
    "AllowedAddresses": (
        [("192.0.2.0/24", (IPv4Network("192.0.2.0/24"),)),
         ("10.0.0.0/8 198.51.100.7/32", (IPv4Network("10.0.0.0/8"),
                                         IPv4Network("198.51.100.7/32")))],
        [("192.0.2.1/24", "host bits"), ("2001:db8::/32", "not an IPv4 range"),
         ("192.0.2.0/33", "not an IPv4 range"), ("any", "not an IPv4 range"),
         # a bare address is a /32, in which no /24 lease lies: every lease was refused
         ("10.0.0.0/8 198.51.100.7", "needs its prefix length")]),
    "KeepConfiguration": (BOOL_GOOD, BOOL_BAD),
    "ControlGroup": (
        [("0", 0), ("1001", 1001), ("4294967294", 4294967294)],
        [("netadmin", "not a numeric group id"), ("65534", "cannot be told apart"),
         ("4294967295", "cannot be told apart"), ("-1", "not a numeric group id"),
         ("1" * 5000, "cannot be told apart")]),
}


def test_every_setting_has_cases() -> None:
    assert set(CASES) == {setting.name for setting in s.SETTINGS}


def _assign(setting: s.Setting[Any], text: str) -> Any:
    return parse([("t.conf", f"[{setting.section}]\n{setting.name}={text}\n")])[setting]


GOOD = [(x, text, value) for x in s.SETTINGS for text, value in CASES[x.name][0]]
BAD = [(x, text, what) for x in s.SETTINGS for text, what in CASES[x.name][1]]


@pytest.mark.parametrize(("setting", "text", "value"), GOOD,
                         ids=[f"{x.name}={t}"[:40] for x, t, _ in GOOD])
def test_good_values(setting: s.Setting[Any], text: str, value: Any) -> None:
    assert _assign(setting, text) == value
    # show() spells the value so that it parses back to the same value
    assert _assign(setting, setting.show(value)) == value


@pytest.mark.parametrize(("setting", "text", "what"), BAD,
                         ids=[f"{x.name}={t}"[:40] for x, t, _ in BAD])
def test_bad_values(setting: s.Setting[Any], text: str, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        _assign(setting, text)
    assert str(info.value).startswith(f"t.conf:2: {setting.name}=: ")
    assert what in str(info.value)


@pytest.mark.parametrize("setting", s.SETTINGS, ids=[x.name for x in s.SETTINGS])
def test_the_default_spelled_out_is_the_default(setting: s.Setting[Any]) -> None:
    text = setting.show(setting.default)
    assert (_assign(setting, text) if text else setting.default) == setting.default
