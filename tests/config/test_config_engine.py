"""The engine's part: ClientConfig from the files, Anonymize=, option 61, CLI overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from leasebox.config.parse import ConfigError, parse
from leasebox.config.settings import ANONYMIZE_REQUEST_OPTIONS, Scope
from leasebox.config.values import OWN_OPTIONS, SERVER_OPTIONS, ClientIdentifier
from leasebox.core.machine.types import ClientConfig
from leasebox.core.wire.options import NOT_UNKNOWN
from leasebox.engine import clientid
from leasebox.engine.config import EngineConfig, engine_config, usable_hostname
from leasebox.engine.main import parse_args, read_config
from tests.config.confroot import ETC, put

MAC = bytes.fromhex("02005e100001")


def cfg(text: str, system_hostname: str | None = "box") -> EngineConfig:
    return engine_config(parse([("t", text)]).view(Scope.ENGINE), system_hostname)


def test_defaults() -> None:
    c = cfg("")
    assert c.client == ClientConfig(hostname="box")
    assert (c.client_id, c.duid, c.iaid) == (ClientIdentifier.MAC, None, None)
    assert c.keep_configuration is False and c.control_gid is None


@pytest.mark.parametrize(("update", "flags"), [("both", 0x05), ("ptr", 0x04), ("none", 0x0C)])
def test_fqdn_replaces_the_host_name(update: str, flags: int) -> None:
    c = cfg(f"[DHCPv4]\nFQDN=box.example.org.\nFQDNUpdate={update}\nHostname=other\n")
    assert c.client.hostname is None and c.fqdn == "box.example.org"
    assert c.client.client_fqdn == bytes((flags, 0, 0)) + b"\x03box\x07example\x03org\x00"
    anonymous = cfg("[DHCPv4]\nFQDN=box.example.org\nAnonymize=yes\n")
    assert anonymous.client.client_fqdn is None and anonymous.fqdn is None


def test_custom_options_are_sent_and_request_options_can_take_out() -> None:
    c = cfg("""[DHCPv4]
SendOption=200:string:hi
SendOption=201:uint16:2
SendOption=200:uint8:1
SendVendorOption=1:string:ab
SendVendorOption=2:uint8:9
UserClass=gold silver
RequestOptions=-42 -119 224 -224 225
""")
    assert c.client.send_options == (
        (43, b"\x01\x02ab\x02\x01\x09"), (77, b"\x04gold\x06silver"),
        (200, b"\x01"), (201, b"\x00\x02"))
    asked = c.client.request_options
    assert 42 not in asked and 119 not in asked and 224 not in asked and asked[-1] == 225
    # in the order assigned: a later line puts back what an earlier one took out
    asked = cfg("[DHCPv4]\nRequestOptions=-42 -224\nRequestOptions=42 224 -119\n"
                ).client.request_options
    assert 42 in asked and asked[-1] == 224 and 119 not in asked
    assert asked == cfg("[DHCPv4]\nRequestOptions=224 -119\n").client.request_options
    # RFC 3442: 121 before 3 and 33 (added after the defaults); Anonymize= keeps RFC 7844's
    # ascending order
    asked = cfg("[DHCPv4]\nRequestOptions=33\n").client.request_options
    assert asked.index(121) < asked.index(3) < asked.index(33)
    assert cfg("[DHCPv4]\nAnonymize=yes\n").client.request_options == tuple(
        sorted(ANONYMIZE_REQUEST_OPTIONS))
    assert cfg("[DHCPv4]\nSendOption=200:uint8:1\nUserClass=x\nAnonymize=yes\n"
               ).client.send_options == ()


def test_captive_portal_is_asked_for_unless_turned_off_or_anonymized() -> None:
    assert 114 in cfg("").client.request_options and cfg("").use_captive_portal
    off = cfg("[DHCPv4]\nUseCaptivePortal=no\n")
    assert 114 not in off.client.request_options and not off.use_captive_portal
    anonymous = cfg("[DHCPv4]\nAnonymize=yes\n")
    assert 114 not in anonymous.client.request_options and not anonymous.use_captive_portal
    # RequestOptions= cannot bring it back behind UseCaptivePortal=no's back
    assert 114 not in cfg("[DHCPv4]\nUseCaptivePortal=no\nRequestOptions=114\n"
                          ).client.request_options


def test_every_engine_setting_reaches_the_engine() -> None:
    c = cfg("""[DHCPv4]
ClientIdentifier=duid
DUID=00:04:00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f
IAID=7
SendHostname=yes
Hostname=named.example
VendorClassIdentifier=leasebox
RequestOptions=100 1 100
SendRelease=no
RapidCommit=yes
IPv6OnlyPreferred=yes
ARPProbe=yes
MinimumLeaseTime=5min
[Network]
KeepConfiguration=yes
[Control]
ControlGroup=1001
""")
    base = ClientConfig().request_options
    assert c.client == ClientConfig(
        hostname="named.example", vendor_class_id=b"leasebox", request_options=base + (100,),
        rapid_commit=True, ipv6_only_preferred=True, arp_probe=True, send_release=False,
        min_lease_time=300)
    assert c.client_id is ClientIdentifier.DUID and c.iaid == 7
    assert c.duid is not None and c.duid[:2] == b"\x00\x04"
    assert c.keep_configuration is True and c.control_gid == 1001


@pytest.mark.parametrize(("system", "sent"), [
    ("box", "box"), ("box.example.", "box.example"), (None, None), ("localhost", None),
    ("localhost.localdomain", None), ("under_score", None), ("-x", None),
])
def test_system_hostname(system: str | None, sent: str | None) -> None:
    assert usable_hostname(system) == sent
    assert cfg("", system).client.hostname == sent


def test_send_hostname_no_sends_none_even_if_set() -> None:
    assert cfg("[DHCPv4]\nSendHostname=no\nHostname=x\n").client.hostname is None


def test_send_hostname_no_sends_no_fqdn_either() -> None:
    """A privacy drop-in with SendHostname=no need not know of FQDN= (as networkd's)."""
    c = cfg("[DHCPv4]\nFQDN=box.example.org\nSendHostname=no\n")
    assert c.client.client_fqdn is None and c.client.hostname is None and c.fqdn is None


def test_anonymize_overrides_what_identifies_the_host() -> None:
    c = cfg("[DHCPv4]\nAnonymize=yes\nClientIdentifier=duid\nDUID=00:03:00:01:02:00:5e:00:00:01\n"
            "Hostname=named\nVendorClassIdentifier=v\nRequestOptions=100\nRapidCommit=yes\n")
    assert c.client.hostname is None and c.client.vendor_class_id is None
    assert c.client.request_options == ANONYMIZE_REQUEST_OPTIONS
    assert c.client_id is ClientIdentifier.MAC
    assert c.client.rapid_commit is True  # not an identifier: kept


def test_client_identifier_mac_and_none() -> None:
    assert clientid.client_identifier(ClientIdentifier.MAC, MAC, "eth0") == b"\x01" + MAC
    assert clientid.client_identifier(ClientIdentifier.NONE, MAC, "eth0") is None


def test_client_identifier_duid_defaults_work_without_the_host() -> None:
    cid = clientid.client_identifier(ClientIdentifier.DUID, MAC, "eth0")
    assert cid is not None and cid[0] == 255
    iaid, duid = cid[1:5], cid[5:]
    assert duid == b"\x00\x03\x00\x01" + MAC  # DUID-LL, Ethernet
    assert iaid == clientid.default_iaid("eth0").to_bytes(4, "big")
    # stable for a name, different between interfaces
    assert clientid.default_iaid("eth0") == clientid.default_iaid("eth0")
    assert clientid.default_iaid("eth0") != clientid.default_iaid("eth1")


def test_client_identifier_duid_configured() -> None:
    duid = bytes.fromhex("0004") + bytes(16)
    cid = clientid.client_identifier(ClientIdentifier.DUID, MAC, "eth0", duid, 0x01020304)
    assert cid == b"\xff\x01\x02\x03\x04" + duid


def test_command_line_overrides_files(tmp_path: Path) -> None:
    put(tmp_path, ETC, "leasebox.conf",
        "[DHCPv4]\nMinimumLeaseTime=30\nSendRelease=yes\nRapidCommit=no\nHostname=file\n")
    args = parse_args(["veth0", f"--config-root={tmp_path}", "--min-lease-time=5",
                       "--no-release", "--rapid-commit", "--client-id=none"])
    assert args is not None
    c = read_config(args, "veth0")
    assert c.client.min_lease_time == 5 and c.client.send_release is False
    assert c.client.rapid_commit is True and c.client_id is ClientIdentifier.NONE
    assert c.client.hostname == "file"  # not given on the command line: the file's
    args = parse_args(["veth0", f"--config-root={tmp_path}"])
    assert args is not None
    plain = read_config(args, "veth0")
    assert plain.client.min_lease_time == 30 and plain.client.send_release is True


def test_send_option_refuses_what_the_codec_will_not_send() -> None:
    """Each code the codec knows by name (NOT_UNKNOWN: it reads them from the server, or
    the client sets them itself) is refused by SendOption=, which check-config runs, so
    none of them can make the engine fail at its first DISCOVER."""
    codes = {int(c) for c in NOT_UNKNOWN if 0 < c < 255}
    assert codes <= SERVER_OPTIONS | OWN_OPTIONS
    assert not SERVER_OPTIONS & OWN_OPTIONS and SERVER_OPTIONS <= codes


def test_more_options_than_the_codec_sends_is_a_configuration_error(tmp_path: Path) -> None:
    """Only the whole tells: 33 codes, or their octets. The engine says so at its start
    (exit 78, not restarted), not as a crash at its first DISCOVER."""
    many = "".join(f"SendOption={200 + i}:uint8:1\n" for i in range(33))
    put(tmp_path, ETC, "leasebox.conf", f"[DHCPv4]\n{many}")
    args = parse_args(["veth0", f"--config-root={tmp_path}"])
    assert args is not None
    with pytest.raises(ConfigError, match="33 options from SendOption=, SendVendorOption= "
                       "and UserClass=: a message carries at most 32"):
        read_config(args, "veth0")
    large = "".join(f"SendOption={200 + i}:hex:{'00:' * 254}00\n" for i in range(17))
    put(tmp_path, ETC, "leasebox.conf", f"[DHCPv4]\n{large}")
    with pytest.raises(ConfigError, match="hold 4335 octets, more than the 1472 octets"):
        read_config(args, "veth0")
    # one UserClass= of 5 kB: said in the settings' terms, not the codec's ("unknown: more
    # than 32 options or 4096 octets", of one option)
    classes = " ".join(["a" * 255] * 20)
    put(tmp_path, ETC, "leasebox.conf", f"[DHCPv4]\nUserClass={classes}\n")
    with pytest.raises(ConfigError, match="more than the 1472 octets a 1500-octet MTU"):
        read_config(args, "veth0")
    # fewer octets than the codec's bound, more than io sends in one frame (1472): it
    # would have exited at its first DISCOVER with a contract violation, and restarted
    wide = "".join(f"SendOption={200 + i}:hex:{'00:' * 126}00\n" for i in range(10))
    conf = put(tmp_path, ETC, "leasebox.conf", f"[DHCPv4]\n{wide}")
    with pytest.raises(ConfigError, match="more than the 1472 octets") as error:
        read_config(args, "veth0")
    assert (error.value.path, error.value.line) == (str(conf), 11)  # the last of them
    fits = "".join(f"SendOption={200 + i}:hex:{'00:' * 126}00\n" for i in range(9))
    put(tmp_path, ETC, "leasebox.conf", f"[DHCPv4]\n{fits}")
    assert len(read_config(args, "veth0").client.send_options) == 9
    # the client identifier counts too, though the MAC address that completes it comes
    # later: with a 130-octet DUID, these options no longer fit
    duid = "00:04:" + "11:" * 127 + "11"
    put(tmp_path, ETC, "leasebox.conf",
        f"[DHCPv4]\n{fits}ClientIdentifier=duid\nDUID={duid}\n")
    with pytest.raises(ConfigError, match="more than the 1472 octets"):
        read_config(args, "veth0")
    put(tmp_path, ETC, "leasebox.conf", "[DHCPv4]\nSendOption=200:uint8:1\n")
    assert read_config(args, "veth0").client.send_options == ((200, b"\x01"),)
