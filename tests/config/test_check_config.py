"""`leaseboxctl check-config [IFACE]`: the effective configuration with every value's source."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from leasebox.config import settings as s
from leasebox.config.files import load
from leasebox.config.parse import parse
from tests.config.confroot import ETC, RUN, USR, put, run_module

CTL = "leasebox.ctl.main"


def check(root: Path, *args: str) -> tuple[int, str, str]:
    proc = run_module(CTL, "check-config", f"--config-root={root}", *args)
    return proc.returncode, proc.stdout, proc.stderr


def line_of(out: str, key: str) -> str:
    (line,) = [x for x in out.splitlines() if x.startswith(f"{key}=")]
    return line


def test_text_shows_values_and_sources(tmp_path: Path) -> None:
    main = put(tmp_path, USR, "leasebox.conf", "[Network]\nRouteMetric=50\n")
    dropin = put(tmp_path, RUN, "leasebox.conf.d/10-dns.conf", "[Network]\nUseDNS=no\n")
    iface = put(tmp_path, ETC, "interfaces/eth0.conf",
                "# eth0\n[Network]\nAllowedAddresses=10.0.0.0/8\nAllowedAddresses=192.0.2.0/24\n")
    code, out, err = check(tmp_path, "eth0")
    assert code == 0, err
    assert out.index(str(main)) < out.index(str(dropin)) < out.index(str(iface))
    assert line_of(out, "RouteMetric").split() == ["RouteMetric=50", "#", "netconf:",
                                                   f"{main}:2"]
    assert line_of(out, "UseDNS").endswith(f"# netconf: {dropin}:2")
    assert line_of(out, "AllowedAddresses").startswith("AllowedAddresses=10.0.0.0/8 192.0.2.0/24")
    assert line_of(out, "AllowedAddresses").endswith(f"{iface}:3, {iface}:4")
    assert line_of(out, "ClientIdentifier").endswith("# engine: default")
    assert line_of(out, "DUID").endswith("# engine: default (DUID-LL from the interface's "
                                         "MAC address)")
    # without IFACE: the interface's own files are checked, but not shown
    code, out, _ = check(tmp_path)
    assert code == 0 and str(iface) not in out and "Checked too, with their own files: eth0" in out
    assert line_of(out, "AllowedAddresses").split("#")[0].strip() == "AllowedAddresses="


def test_text_output_spells_values_as_files_do(tmp_path: Path) -> None:
    put(tmp_path, ETC, "leasebox.conf", "[DHCPv4]\nDUID=00:04:" + ":".join(["ab"] * 16)
        + "\nRequestOptions=100 101\nMinimumLeaseTime=2min\nSendOption=150:string:ab\n"
        "SendOption=224:hex:01:02\nSendVendorOption=1:string:x\nSendVendorOption=2:uint8:7\n"
        "UserClass=one two\n[Network]\nClasslessRoutes=table:9\n"
        "[Control]\nControlGroup=1001\n")
    code, out, _ = check(tmp_path)
    assert code == 0
    # a list of one item a line takes a line for each, the comment on the first
    sends = [line for line in out.splitlines() if line.startswith("SendOption=")]
    assert [line.split()[0] for line in sends] == ["SendOption=150:hex:61:62",
                                                   "SendOption=224:hex:01:02"]
    assert "# engine:" in sends[0] and "#" not in sends[1]
    # without the trailing "# process: source" comments it is a configuration file
    text = "\n".join(line.rpartition("  # ")[0].rstrip() if "  # " in line else line
                     for line in out.splitlines())
    again = parse([("check-config", text)])
    original = load(str(tmp_path), None)
    for setting in s.SETTINGS:
        assert again[setting] == original[setting], setting.name


def test_an_option_given_again_shows_as_sent_once(tmp_path: Path) -> None:
    """A drop-in's SendOption= of the same CODE replaces leasebox.conf's: check-config
    showed both, as if both were sent, and the JSON listed both."""
    put(tmp_path, ETC, "leasebox.conf", "[DHCPv4]\nSendOption=200:string:old\n"
        "SendOption=201:uint8:1\nSendVendorOption=1:uint8:1\n")
    put(tmp_path, ETC, "leasebox.conf.d/50-new.conf", "[DHCPv4]\nSendOption=200:string:new\n"
        "SendVendorOption=1:uint8:2\n")
    code, out, _ = check(tmp_path)
    assert code == 0
    sends = [line.split()[0] for line in out.splitlines() if line.startswith("SendOption=")]
    assert sends == ["SendOption=200:hex:6e:65:77", "SendOption=201:hex:01"]
    vendor = [line.split()[0] for line in out.splitlines()
              if line.startswith("SendVendorOption=")]
    assert vendor == ["SendVendorOption=1:hex:02"]
    code, out, _ = check(tmp_path, "--json")
    by_name = {x["name"]: x for x in json.loads(out)["settings"]}
    assert by_name["SendOption"]["value"] == ["200:hex:6e:65:77", "201:hex:01"]


def test_json(tmp_path: Path) -> None:
    conf = put(tmp_path, ETC, "leasebox.conf",
               "[Network]\nAllowedAddresses=10.0.0.0/8 192.0.2.0/24\nUseMTU=no\n")
    code, out, _ = check(tmp_path, "--json", "eth0")
    assert code == 0
    body = json.loads(out)
    assert body["interface"] == "eth0" and body["files"] == [str(conf)]
    by_name = {x["name"]: x for x in body["settings"]}
    assert set(by_name) == {x.name for x in s.SETTINGS}
    assert by_name["AllowedAddresses"] == {
        "section": "Network", "name": "AllowedAddresses", "scope": "netconf",
        "value": ["10.0.0.0/8", "192.0.2.0/24"], "sources": [f"{conf}:2"], "default": False}
    assert by_name["UseMTU"]["value"] == "no"
    assert by_name["Hostname"]["value"] is None and by_name["Hostname"]["default"] is True
    assert by_name["ClasslessRoutes"]["value"] == "main"


def test_bad_configuration_exits_78_with_the_first_error(tmp_path: Path) -> None:
    put(tmp_path, ETC, "leasebox.conf", "[Network]\nUseDNS=no\n")
    bad = put(tmp_path, ETC, "interfaces/eth0.conf", "[Network]\nRouteMetric=lots\n")
    put(tmp_path, ETC, "interfaces/eth0.conf.d/x.conf", "[Nope]\n")
    code, out, err = check(tmp_path, "eth0")
    assert (code, out) == (78, "")
    assert err.strip() == f"leaseboxctl: {bad}:2: RouteMetric=: not an unsigned number: 'lots'"
    code, _, _ = check(tmp_path, "--json", "eth0")
    assert code == 78
    assert check(tmp_path)[:2] == (78, "")  # without IFACE, eth0's files are checked too


def test_bad_interface_name_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = check(tmp_path, "../etc")
    assert code == 64 and "invalid interface name" in err


def test_no_files(tmp_path: Path) -> None:
    code, out, _ = check(tmp_path)
    assert code == 0 and "No configuration files" in out


def test_the_whole_is_judged_as_the_engine_judges_it(tmp_path: Path) -> None:
    """Each SendOption= line is good, their sum is not: check-config says so as the engine
    would at its start (exit 78), at the line that made the messages too long."""
    wide = "".join(f"SendOption={200 + i}:hex:{'00:' * 126}00\n" for i in range(9))
    put(tmp_path, ETC, "leasebox.conf", f"[DHCPv4]\n{wide}")
    assert check(tmp_path, "eth0")[0] == 0
    tenth = put(tmp_path, ETC, "interfaces/eth0.conf",
                f"[DHCPv4]\nSendOption=209:hex:{'00:' * 126}00\n")
    code, _, err = check(tmp_path, "eth0")
    assert code == 78
    assert err.startswith(f"leaseboxctl: {tenth}:2: these options make a ")
    assert "more than the 1472 octets" in err
    assert check(tmp_path)[0] == 78  # leasebox.conf alone is good, eth0's files not
    # the client identifier counts too, and without IFACE as well
    put(tmp_path, ETC, "leasebox.conf.d/duid.conf",
        "[DHCPv4]\nClientIdentifier=duid\nDUID=00:04:" + "11:" * 127 + "11\n")
    code, _, err = check(tmp_path)
    assert code == 78 and "duid.conf:3: these options make a " in err


def test_without_iface_every_interface_with_files_is_checked_too(tmp_path: Path) -> None:
    """`check-config` with no IFACE said "good" while interfaces/eth0.conf had a mistake
    that stops eth0's services; it now checks each interface that has files of its own."""
    put(tmp_path, ETC, "leasebox.conf", "[Network]\nRouteMetric=50\n")
    put(tmp_path, USR, "interfaces/eth1.conf.d/10-x.conf", "[Network]\nUseDNS=no\n")
    put(tmp_path, RUN, "interfaces/not an interface.conf", "[Nonsense]\n")  # read by none
    code, out, err = check(tmp_path)
    assert code == 0, err
    assert "# Checked too, with their own files: eth1 (check-config IFACE shows one)." in out
    assert json.loads(check(tmp_path, "--json")[1])["checked_interfaces"] == ["eth1"]
    bad = put(tmp_path, ETC, "interfaces/eth0.conf", "[Network]\nRouteMetrik=5\n")
    code, out, err = check(tmp_path)
    assert code == 78 and out == ""
    assert err.startswith(f"leaseboxctl: {bad}:2: unknown key RouteMetrik= in [Network]")


def test_a_config_root_that_is_not_there_is_said_so(tmp_path: Path) -> None:
    """A mistyped --config-root showed "No configuration files" and exited 0."""
    code, out, err = check(tmp_path / "nowhere", "eth0")
    assert (code, out) == (66, "")
    assert err == f"leaseboxctl: --config-root {tmp_path / 'nowhere'}: not a directory\n"
    assert check(tmp_path / "nowhere", "bad/name")[0] == 64  # the name first


@pytest.mark.parametrize("spelling", [".", "./", "./.", "root/.."])
def test_a_config_root_spelled_any_way_is_checked(tmp_path: Path, spelling: str) -> None:
    """`--config-root .` (or `./`, `root/..`) ended in a StopIteration traceback, exit 1:
    the paths it compared were not normalised, and no directory was found to hold a file."""
    conf = put(tmp_path, ETC, "leasebox.conf", "[Network]\nUseMTU=no\n")
    (tmp_path / "root").mkdir()
    proc = run_module(CTL, "check-config", f"--config-root={spelling}", "eth0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert line_of(proc.stdout, "UseMTU").endswith(f"# netconf: {conf}:2")


def test_json_spells_a_word_value_that_is_none_inside(tmp_path: Path) -> None:
    """ClasslessRoutes=ignore is None inside: JSON said null, as for a setting unset, so a
    tool could not tell the TunnelVision mitigation from nothing."""
    put(tmp_path, ETC, "leasebox.conf", "[Network]\nClasslessRoutes=ignore\n")
    code, out, _ = check(tmp_path, "--json")
    by_name = {x["name"]: x for x in json.loads(out)["settings"]}
    assert code == 0 and by_name["ClasslessRoutes"]["value"] == "ignore"
    assert by_name["Hostname"]["value"] is None  # unset: still null


def test_a_file_name_not_in_utf8_is_shown_escaped(tmp_path: Path) -> None:
    """A drop-in named in Latin-1 (read, as the services read it): its name went to a
    strict UTF-8 stdout as it was, and print() failed with a traceback."""
    dropins = tmp_path / ETC / "leasebox.conf.d"
    dropins.mkdir(parents=True)
    with open(os.fsencode(dropins) + b"/50-caf\xe9.conf", "wb") as dropin:
        dropin.write(b"[Network]\nUseDNS=no\n")
    env = {"PYTHONIOENCODING": "utf-8:strict"}
    proc = run_module(CTL, "check-config", f"--config-root={tmp_path}", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "50-caf\\udce9.conf" in proc.stdout


def test_a_file_the_services_cannot_read_is_an_error(tmp_path: Path) -> None:
    """Under a umask of 027 a file is 0640, a directory 0750: root reads them, the services'
    own users do not, and exit 78. check-config, run as root, said all was well."""
    dropin = put(tmp_path, ETC, "leasebox.conf.d/50-dns.conf", "[Network]\nUseDNS=no\n")
    dropin.chmod(0o640)
    code, _, err = check(tmp_path)
    assert code == 78 and f"{dropin}: the services cannot read it: file" in err
    assert "mode 0640" in err and "chmod o+r" in err
    dropin.chmod(0o644)
    dropin.parent.chmod(0o750)
    code, _, err = check(tmp_path)
    assert code == 78 and f"directory {dropin.parent} has mode 0750" in err
    assert "chmod o+rx" in err
    dropin.parent.chmod(0o751)  # searchable, but a drop-in directory is listed too
    code, _, err = check(tmp_path)
    assert code == 78 and f"directory {dropin.parent} has mode 0751" in err
    dropin.parent.chmod(0o755)
    assert check(tmp_path)[0] == 0
    # a drop-in linked to a vendor's file: the directory it is listed in counts as well
    vendor = put(tmp_path, USR, "dns.conf", "[Network]\nUseDNS=no\n")
    dropin.unlink()
    dropin.symlink_to(vendor)
    dropin.parent.chmod(0o750)
    code, _, err = check(tmp_path)
    assert code == 78 and f"directory {dropin.parent} has mode 0750" in err
    dropin.parent.chmod(0o755)
    vendor.chmod(0o600)
    code, _, err = check(tmp_path)
    assert code == 78 and f"file {vendor} has mode 0600" in err
    vendor.chmod(0o644)
    assert check(tmp_path)[0] == 0


def test_a_link_out_of_the_services_sight_is_an_error(tmp_path: Path) -> None:
    """In the services' root only the configuration directories and /usr are there: a
    drop-in linked to /srv leads nowhere for them (exit 78), not for check-config."""
    elsewhere = tmp_path / "srv" / "dns.conf"
    elsewhere.parent.mkdir()
    elsewhere.write_text("[Network]\nUseDNS=no\n")
    dropins = tmp_path / ETC / "leasebox.conf.d"
    dropins.mkdir(parents=True)
    (dropins / "50-dns.conf").symlink_to(elsewhere)
    (dropins / "60-mask.conf").symlink_to(os.devnull)
    code, _, err = check(tmp_path)
    assert code == 78 and "which the services cannot see" in err
    (dropins / "50-dns.conf").unlink()
    (dropins / "50-dns.conf").symlink_to(tmp_path / USR / "dns.conf")
    put(tmp_path, USR, "dns.conf", "[Network]\nUseDNS=no\n")
    assert check(tmp_path)[0] == 0


@pytest.mark.parametrize(("where", "mode", "chmod"), [
    (f"{ETC}/leasebox.conf.d", 0o750, "o+rx"),  # listed, though empty
    (f"{ETC}/interfaces", 0o750, "o+x"),  # searched for the interface's own file
    (f"{ETC}/interfaces/eth0.conf.d", 0o750, "o+rx"),
    (f"{ETC}/interfaces/eth0.conf.d", 0o751, "o+rx"),
    (RUN, 0o700, "o+x"),  # searched for leasebox.conf
])
def test_a_directory_the_services_cannot_look_into_is_an_error(
        tmp_path: Path, where: str, mode: int, chmod: str) -> None:
    """`mkdir /etc/leasebox/leasebox.conf.d` under root's umask 027 makes it 0750: the
    services cannot list it and exit 78 ("cannot list: Permission denied"), an interfaces/
    at 0750 stops every interface; check-config looked only on the way to files it read,
    and said all was well."""
    folder = tmp_path / where
    folder.mkdir(parents=True)
    folder.chmod(mode)
    for args in (("eth0",), ("eth1",), ()):
        if "eth0" in where and args == ("eth1",):
            continue  # eth1's services do not look into eth0's drop-ins
        code, out, err = check(tmp_path, *args)
        assert (code, out) == (78, ""), args
        assert err == (f"leaseboxctl: {folder}: the services cannot look into it: directory "
                       f"{folder} has mode {mode:04o}, and they run as users of their own "
                       f"(chmod {chmod})\n")
    folder.chmod(0o755)
    assert check(tmp_path, "eth0")[0] == check(tmp_path)[0] == 0


def test_a_searched_directory_need_not_be_listed(tmp_path: Path) -> None:
    (tmp_path / ETC / "interfaces").mkdir(parents=True, mode=0o711)
    (tmp_path / ETC / "interfaces").chmod(0o711)
    put(tmp_path, ETC, "interfaces/eth0.conf", "[Network]\nUseDNS=no\n")
    assert check(tmp_path, "eth0")[0] == check(tmp_path, "eth1")[0] == 0


@pytest.mark.parametrize("link", ["leasebox.conf.d", "interfaces"])
def test_a_directory_link_out_of_the_services_sight_is_an_error(
        tmp_path: Path, link: str) -> None:
    """A link to /srv leads nowhere in the services' root, with files behind it or not;
    an interfaces/ linked there was flagged only for an interface with a file, while the
    services of every interface stopped."""
    elsewhere = tmp_path / "srv" / "leasebox"
    elsewhere.mkdir(parents=True)
    path = tmp_path / ETC / link
    path.parent.mkdir(parents=True)
    path.symlink_to(elsewhere)
    for args in (("eth0",), ()):
        code, _, err = check(tmp_path, *args)
        assert code == 78, args
        assert err == (f"leaseboxctl: {path}: leads to {elsewhere}, which the services cannot "
                       "see: their root holds only /etc/leasebox, /run/leasebox-conf and "
                       "/usr\n")
    vendor = tmp_path / USR / link
    vendor.mkdir(parents=True)
    path.unlink()
    path.symlink_to(vendor)
    assert check(tmp_path, "eth0")[0] == check(tmp_path)[0] == 0
    vendor.chmod(0o750)  # where the link leads counts, as for a file (chmod follows it)
    code, _, err = check(tmp_path, "eth0")
    assert code == 78 and "the services cannot look into it: directory " in err
    assert "has mode 0750" in err


@pytest.mark.parametrize(("files", "warned"), [
    ({"leasebox.conf": "[DHCPv4]\nClientIdentifier=duid\nDUID=00:04:" + ":".join(["ab"] * 16)
      + "\nIAID=7\n"}, ["leasebox.conf:4: IAID="]),
    # each interface's own DUID-LL (DUID= unset): the client identifiers differ all the same
    ({"leasebox.conf": "[DHCPv4]\nClientIdentifier=duid\nIAID=7\n"}, []),
    # an empty assignment resets it: nothing is set
    ({"leasebox.conf": "[DHCPv4]\nRequestAddress=192.0.2.7\n",
      "leasebox.conf.d/9.conf": "[DHCPv4]\nRequestAddress=\n"}, []),
    ({"leasebox.conf.d/5.conf": "[DHCPv4]\nRequestAddress=192.0.2.7\n"},
     ["5.conf:2: RequestAddress="]),
    # the interface's own value wins: nothing shared
    ({"leasebox.conf": "[DHCPv4]\nClientIdentifier=duid\nIAID=7\nRequestAddress=192.0.2.7\n",
      "interfaces/eth0.conf": "[DHCPv4]\nIAID=8\n",
      "interfaces/eth0.conf.d/a.conf": "[DHCPv4]\nRequestAddress=192.0.2.8\n"}, []),
    # not sent: no IAID without ClientIdentifier=duid, neither with Anonymize=yes
    ({"leasebox.conf": "[DHCPv4]\nIAID=7\n"}, []),
    ({"leasebox.conf": "[DHCPv4]\nAnonymize=yes\nClientIdentifier=duid\nIAID=7\n"
                       "RequestAddress=192.0.2.7\n"}, []),
])
def test_a_per_interface_setting_in_leasebox_conf_is_warned_of(
        tmp_path: Path, files: dict[str, str], warned: list[str]) -> None:
    for relpath, text in files.items():
        put(tmp_path, ETC, relpath, text)
    code, out, err = check(tmp_path, "eth0")
    assert code == 0
    assert len(err.splitlines()) == len(warned)
    for part, line in zip(warned, err.splitlines(), strict=True):
        assert line.startswith("leaseboxctl: warning: ") and part in line
        assert "set it in interfaces/IFACE.conf" in line
    assert [x for x in out.splitlines() if x.startswith("# Warning: ")] == [
        line.removeprefix("leaseboxctl: warning: ").join(("# Warning: ", ""))
        for line in err.splitlines()]
    code, out, _ = check(tmp_path, "--json", "eth0")
    assert code == 0 and len(json.loads(out)["warnings"]) == len(warned)


def test_a_config_root_below_a_directory_named_interfaces_is_warned_of_all_the_same(
        tmp_path: Path) -> None:
    """Whether a file is an interface's own goes by its place in its configuration
    directory, not by a word anywhere in its path (an image below /srv/interfaces/)."""
    root = tmp_path / "interfaces" / "image"
    put(root, ETC, "leasebox.conf", "[DHCPv4]\nRequestAddress=192.0.2.7\n")
    code, _out, err = check(root, "eth0")
    assert code == 0 and "RequestAddress= is set for every interface" in err
