"""The pure parser: systemd's semantics, sources, errors with file:line, scoped views."""

from __future__ import annotations

import re
from ipaddress import IPv4Network

import pytest

from leasebox.config import settings as s
from leasebox.config.parse import Config, ConfigError, Override, Source, defaults, parse
from leasebox.config.settings import Scope


def one(text: str, name: str = "a.conf") -> Config:
    return parse([(name, text)])


def test_syntax() -> None:
    config = one("""
# a comment
; another
  [Network]
  RouteMetric = 50
UseDNS=  no
[DHCPv4]
Hostname=host-1.example
[Network]
UseMTU=off
""")
    assert config[s.ROUTE_METRIC] == 50 and config[s.USE_DNS] is False
    assert config[s.USE_MTU] is False and config[s.HOSTNAME] == "host-1.example"
    assert config.sources(s.ROUTE_METRIC) == (Source("a.conf", 5),)
    assert config.files == ("a.conf",)


def test_later_assignment_wins_within_and_across_files() -> None:
    config = parse([("a", "[Network]\nRouteMetric=1\nRouteMetric=2\n"),
                    ("b", "[Network]\nRouteMetric=3\n"), ("c", "[Network]\nUseDNS=no\n")])
    assert config[s.ROUTE_METRIC] == 3
    assert config.sources(s.ROUTE_METRIC) == (Source("b", 2),)


def test_empty_assignment_resets_scalars_and_lists() -> None:
    config = parse([("a", "[Network]\nRouteMetric=5\nAllowedAddresses=10.0.0.0/8\n"
                          "[DHCPv4]\nHostname=x\n"),
                    ("b", "[Network]\nRouteMetric=\nAllowedAddresses=\n[DHCPv4]\nHostname=\n")])
    assert config[s.ROUTE_METRIC] == 1024
    assert config[s.ALLOWED_ADDRESSES] == ()
    assert config[s.HOSTNAME] is None
    # a reset is an assignment: check-config shows where it happened
    assert config.sources(s.ROUTE_METRIC) == (Source("b", 2),)


def test_lists_accumulate_across_lines_and_files() -> None:
    config = parse([
        ("a", "[Network]\nAllowedAddresses=10.0.0.0/8 172.16.0.0/12\n"
              "AllowedAddresses=192.0.2.0/24\n[DHCPv4]\nRequestOptions=100\n"),
        ("b", "[Network]\nAllowedAddresses=198.51.100.0/24\n[DHCPv4]\nRequestOptions=101 102\n"),
    ])
    assert config[s.ALLOWED_ADDRESSES] == tuple(IPv4Network(n) for n in (
        "10.0.0.0/8", "172.16.0.0/12", "192.0.2.0/24", "198.51.100.0/24"))
    assert config[s.REQUEST_OPTIONS] == (100, 101, 102)
    assert config.sources(s.ALLOWED_ADDRESSES) == (Source("a", 2), Source("a", 3),
                                                   Source("b", 2))


def test_reset_then_add_starts_the_list_over() -> None:
    config = one("[DHCPv4]\nRequestOptions=100\nRequestOptions=\nRequestOptions=120\n")
    assert config[s.REQUEST_OPTIONS] == (120,)


def test_defaults() -> None:
    config = defaults()
    for setting in s.SETTINGS:
        assert config[setting] == setting.default
        assert config.sources(setting) == ()


@pytest.mark.parametrize(("text", "line", "what"), [
    ("[Network]\nUseDSN=yes\n", 2, "unknown key UseDSN= in [Network]"),
    ("[Network]\nusedns=yes\n", 2, "did you mean UseDNS=?"),
    ("[DHCPv4]\nUseDNS=yes\n", 2, "unknown key UseDNS= in [DHCPv4] (it belongs in [Network])"),
    ("[Network]\nRapidCommit=yes\n", 2, "(it belongs in [DHCPv4])"),
    ("[DHCP]\nUseDNS=yes\n", 1, "unknown section [DHCP]"),
    ("[network]\n", 1, "unknown section [network]"),
    ("UseDNS=yes\n", 1, "UseDNS= outside a section"),
    ("[Network]\njust words\n", 2, "expected Key=value"),
    ("[Network]\n=yes\n", 2, "expected Key=value"),
    ("[Network\n", 1, "bad section header"),
    ("[Network]\n\n\nRouteMetric=-1\n", 4, "RouteMetric=: not an unsigned number"),
    ("[Network]\nUseDNS=maybe\n", 2, "UseDNS=: not a boolean"),
    ("[Network]\nRouteMetric=1 \\\n2\n", 2, "RouteMetric="),  # no line continuations
])
def test_errors_name_file_and_line(text: str, line: int, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        one(text, "/etc/leasebox/leasebox.conf")
    assert (info.value.path, info.value.line) == ("/etc/leasebox/leasebox.conf", line)
    assert str(info.value).startswith(f"/etc/leasebox/leasebox.conf:{line}: ")
    assert what in str(info.value)


@pytest.mark.parametrize(("text", "what"), [
    ("[DHCPv4]\nHost\u200bname=x\n", "unknown key Host\\u200bname= in [DHCPv4] "
                                       "(did you mean Hostname=?)"),
    ("[DHCPv4]\nHostn\u0430me=x\n", "unknown key Hostn\\u0430me= in [DHCPv4]"),  # Cyrillic a
    ("[DHCPv4]\nHost\\u200bname=x\n", "unknown key Host\\\\u200bname= in [DHCPv4]"),
    ("[DHCPv4]\nHost\x07name=x\n", "unknown key Host\\x07name= in [DHCPv4] (did you mean "),
    ("[Net\u00adwork]\n", "unknown section [Net\\xadwork] (known: "),
    ("Use\u200bDNS=yes\n", "Use\\u200bDNS= outside a section"),
])
def test_names_show_the_characters_that_do_not(text: str, what: str) -> None:
    """A key with a zero-width space in it showed in the journal as `unknown key Hostname=
    in [DHCPv4]`: the one character at fault did not show. It is escaped now."""
    with pytest.raises(ConfigError) as info:
        one(text, "a")
    message = str(info.value)
    assert message.startswith("a:") and message.partition(": ")[2].startswith(what)
    assert message.isascii() and message.isprintable()


def test_extension_sections_and_keys_are_ignored_as_systemd_does() -> None:
    """`[X-Site]` and `X-Owner=` (systemd.syntax(7): for other tools and notes) made the
    whole configuration refused, and every service exit 78."""
    config = one("[X-Site]\nOwner=ops\nUseDNS=whatever\n[Network]\nX-Owner=ops\n"
                 "UseDNS=no\n")
    assert config[s.USE_DNS] is False
    assert one("[X-Site]\njust words\n[Network]\nUseDNS=no\n")[s.USE_DNS] is False  # any text
    with pytest.raises(ConfigError, match="expected Key=value"):
        one("[Network]\njust words\n")
    with pytest.raises(ConfigError, match="unknown key x-Owner"):
        one("[Network]\nx-Owner=ops\n")  # case matters, as for every name


def test_the_first_error_stops_parsing() -> None:
    with pytest.raises(ConfigError) as info:
        parse([("a", "[Network]\nUseDNS=x\n"), ("b", "[Nope]\n")])
    assert info.value.path == "a"


def test_overrides_come_last_and_say_so() -> None:
    config = parse([("a", "[DHCPv4]\nMinimumLeaseTime=30\nHostname=file\n")],
                   [Override(s.MINIMUM_LEASE_TIME, "5", "--min-lease-time")])
    assert config[s.MINIMUM_LEASE_TIME] == 5
    assert str(config.sources(s.MINIMUM_LEASE_TIME)[0]) == "command line (--min-lease-time)"
    assert config[s.HOSTNAME] == "file"
    with pytest.raises(ConfigError, match=r"^command line: --min-lease-time: not a time span"):
        parse([], [Override(s.MINIMUM_LEASE_TIME, "soon", "--min-lease-time")])


def test_a_view_gives_only_its_own_process_settings() -> None:
    config = one("[Network]\nRouteMetric=7\nKeepConfiguration=yes\n")
    netconf, engine = config.view(Scope.NETCONF), config.view(Scope.ENGINE)
    assert netconf[s.ROUTE_METRIC] == 7
    assert engine[s.KEEP_CONFIGURATION] is True  # in [Network], but the engine acts on it
    with pytest.raises(KeyError, match="read by netconf"):
        engine[s.ROUTE_METRIC]
    with pytest.raises(KeyError, match="read by engine"):
        netconf[s.HOSTNAME]


def test_every_setting_has_a_unique_key_and_a_reader() -> None:
    assert len({x.key for x in s.SETTINGS}) == len(s.SETTINGS)
    assert len({x.name for x in s.SETTINGS}) == len(s.SETTINGS)  # so hints are unambiguous
    for setting in s.SETTINGS:
        assert setting.scope in Scope and setting.help.endswith(".")
        assert setting.accumulate == isinstance(setting.default, tuple)


@pytest.mark.parametrize(("text", "error"), [
    ("[Network]\nUseDNS=no\u00a0\n", "not a boolean: 'no\\xa0'"),
    ("[Network]\n\u2003UseDNS=no\n", "unknown key \\u2003UseDNS= in [Network] (did you mean"),
    ("[Network]\nAllowedAddresses=10.0.0.0/8\u00a0192.0.2.0/24\n", "not an IPv4 range"),
])
def test_only_spaces_and_tabs_are_whitespace(text: str, error: str) -> None:
    """As systemd's: a no-break space pasted from a web page is an error to see, not taken
    away quietly (and a value that works here would fail in a unit)."""
    with pytest.raises(ConfigError, match=re.escape(error)):
        parse([("f", text)])
    spaced = parse([("f", "[Network]\n\t UseDNS = no \t\nAllowedAddresses= 10.0.0.0/8\t"
                          "192.0.2.0/24 \n[DHCPv4]\nMinimumLeaseTime=1h\t30 min\n")])
    assert spaced[s.USE_DNS] is False and len(spaced[s.ALLOWED_ADDRESSES]) == 2
    assert spaced[s.MINIMUM_LEASE_TIME] == 5400
