"""Which files are read, in which order: precedence, masking, drop-ins, per interface."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from leasebox.config import settings as s
from leasebox.config.files import config_paths, interfaces_with_files, load, looked_into
from leasebox.config.parse import ConfigError
from tests.config.confroot import ETC, RUN, USR, put


def metric(root: Path, iface: str | None = "eth0") -> int:
    value: int = load(str(root), iface)[s.ROUTE_METRIC]
    return value


def net(metric_value: int) -> str:
    return f"[Network]\nRouteMetric={metric_value}\n"


def test_no_files_means_defaults(tmp_path: Path) -> None:
    config = load(str(tmp_path), "eth0")
    assert config.files == ()
    assert config[s.ROUTE_METRIC] == 1024 and config.sources(s.ROUTE_METRIC) == ()


@pytest.mark.parametrize(("present", "winner"), [
    ((USR,), 3), ((RUN,), 2), ((ETC,), 1),
    ((USR, RUN), 2), ((USR, ETC), 1), ((RUN, ETC), 1), ((USR, RUN, ETC), 1),
])
def test_main_file_first_found_by_precedence(tmp_path: Path, present: tuple[str, ...],
                                            winner: int) -> None:
    number = {ETC: 1, RUN: 2, USR: 3}
    for d in present:
        put(tmp_path, d, "leasebox.conf", net(number[d]))
    config = load(str(tmp_path), None)
    assert config[s.ROUTE_METRIC] == winner
    assert len(config.files) == 1  # the others are not read at all, not merely overridden


def test_a_masked_main_file_hides_lower_ones_entirely(tmp_path: Path) -> None:
    put(tmp_path, USR, "leasebox.conf", net(3) + "UseDNS=no\n")
    put(tmp_path, ETC, "leasebox.conf", "")  # empty: masks
    assert metric(tmp_path) == 1024 and load(str(tmp_path), None)[s.USE_DNS] is True
    (tmp_path / ETC / "leasebox.conf").unlink()
    os.symlink("/dev/null", tmp_path / ETC / "leasebox.conf")  # systemd's other spelling
    assert metric(tmp_path) == 1024


def test_dropins_merge_by_name_and_sort(tmp_path: Path) -> None:
    put(tmp_path, ETC, "leasebox.conf", net(1))
    put(tmp_path, USR, "leasebox.conf.d/10-vendor.conf", net(10))
    put(tmp_path, RUN, "leasebox.conf.d/20-runtime.conf", net(20))
    put(tmp_path, ETC, "leasebox.conf.d/05-early.conf", net(5))
    paths = [os.path.relpath(p, tmp_path) for p in config_paths(str(tmp_path), None)]
    assert paths == [f"{ETC}/leasebox.conf", f"{ETC}/leasebox.conf.d/05-early.conf",
                     f"{USR}/leasebox.conf.d/10-vendor.conf",
                     f"{RUN}/leasebox.conf.d/20-runtime.conf"]
    assert metric(tmp_path) == 20  # sorted by name, whatever the directory
    assert load(str(tmp_path), None).sources(s.ROUTE_METRIC)[0].path.endswith("20-runtime.conf")


def test_dropin_masking_by_name(tmp_path: Path) -> None:
    put(tmp_path, USR, "leasebox.conf.d/50-x.conf", net(3))
    put(tmp_path, RUN, "leasebox.conf.d/50-x.conf", net(2))
    assert metric(tmp_path) == 2
    put(tmp_path, ETC, "leasebox.conf.d/50-x.conf", net(1))
    assert metric(tmp_path) == 1
    assert len(config_paths(str(tmp_path), None)) == 1
    (tmp_path / ETC / "leasebox.conf.d/50-x.conf").unlink()
    os.symlink("/dev/null", tmp_path / ETC / "leasebox.conf.d/50-x.conf")
    assert metric(tmp_path) == 1024


def test_a_fifo_or_a_directory_is_refused_without_waiting(tmp_path: Path) -> None:
    """A FIFO dropped into a configuration directory would block every service's start
    (nothing ever writes to it): it is named and refused at once, as is a directory."""
    put(tmp_path, ETC, "leasebox.conf", net(5))
    (tmp_path / ETC / "leasebox.conf.d").mkdir(exist_ok=True)
    fifo = tmp_path / ETC / "leasebox.conf.d" / "50-fifo.conf"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"50-fifo\.conf.*not a regular file"):
        load(str(tmp_path), None)
    fifo.unlink()
    (tmp_path / ETC / "leasebox.conf.d" / "60-dir.conf").mkdir()
    with pytest.raises(ConfigError, match=r"60-dir\.conf.*not a regular file"):
        load(str(tmp_path), None)


def test_only_dot_conf_dropins_count(tmp_path: Path) -> None:
    put(tmp_path, ETC, "leasebox.conf.d/50-x.conf.disabled", net(7))
    put(tmp_path, ETC, "leasebox.conf.d/.50-hidden.conf", net(8))
    put(tmp_path, ETC, "leasebox.conf.d/README", "not a config file")
    assert metric(tmp_path) == 1024


def test_interface_files_come_after_the_global_ones(tmp_path: Path) -> None:
    put(tmp_path, ETC, "leasebox.conf", net(1))
    put(tmp_path, ETC, "leasebox.conf.d/99-last.conf", net(99))
    put(tmp_path, USR, "interfaces/eth0.conf", net(100))
    assert metric(tmp_path, "eth0") == 100
    assert metric(tmp_path, "eth1") == 99  # another interface's file is not read
    assert metric(tmp_path, None) == 99
    put(tmp_path, RUN, "interfaces/eth0.conf.d/10-a.conf", net(110))
    put(tmp_path, USR, "interfaces/eth0.conf.d/20-b.conf", net(120))
    assert metric(tmp_path, "eth0") == 120
    put(tmp_path, ETC, "interfaces/eth0.conf", net(101))  # masks the vendor's eth0.conf
    paths = [os.path.relpath(p, tmp_path) for p in config_paths(str(tmp_path), "eth0")]
    assert paths == [f"{ETC}/leasebox.conf", f"{ETC}/leasebox.conf.d/99-last.conf",
                     f"{ETC}/interfaces/eth0.conf", f"{RUN}/interfaces/eth0.conf.d/10-a.conf",
                     f"{USR}/interfaces/eth0.conf.d/20-b.conf"]


@pytest.mark.parametrize("iface", ["leasebox", "conf", "interfaces"])
def test_interface_names_cannot_collide_with_the_layout(tmp_path: Path, iface: str) -> None:
    put(tmp_path, ETC, "leasebox.conf", "[DHCPv4]\nRequestOptions=100\n")
    config = load(str(tmp_path), iface)
    assert config[s.REQUEST_OPTIONS] == (100,)  # read once, not once more as IFACE.conf
    assert len(config.files) == 1


def test_per_interface_list_adds_to_the_global_list(tmp_path: Path) -> None:
    put(tmp_path, ETC, "leasebox.conf", "[Network]\nAllowedAddresses=10.0.0.0/8\n")
    put(tmp_path, ETC, "interfaces/eth0.conf", "[Network]\nAllowedAddresses=192.0.2.0/24\n")
    put(tmp_path, ETC, "interfaces/eth1.conf",
        "[Network]\nAllowedAddresses=\nAllowedAddresses=198.51.100.0/24\n")
    eth0 = [str(n) for n in load(str(tmp_path), "eth0")[s.ALLOWED_ADDRESSES]]
    eth1 = [str(n) for n in load(str(tmp_path), "eth1")[s.ALLOWED_ADDRESSES]]
    assert eth0 == ["10.0.0.0/8", "192.0.2.0/24"]
    assert eth1 == ["198.51.100.0/24"]


def test_errors_name_the_file(tmp_path: Path) -> None:
    bad = put(tmp_path, RUN, "leasebox.conf.d/50-x.conf", "[Network]\n\nUseDSN=no\n")
    with pytest.raises(ConfigError) as info:
        load(str(tmp_path), None)
    assert str(info.value).startswith(f"{bad}:3: unknown key UseDSN= in [Network]")


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    latin = tmp_path / ETC / "leasebox.conf"
    latin.parent.mkdir(parents=True)
    latin.write_bytes(b"[Network]\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=f"^{latin}:2: not UTF-8 text: invalid "
                       "continuation byte at octet 6 of the line"):
        load(str(tmp_path), None)
    latin.unlink()
    os.symlink(tmp_path / "nowhere", latin)  # dangling: there, but unreadable
    with pytest.raises(ConfigError, match="cannot read"):
        load(str(tmp_path), None)
    latin.unlink()
    latin.mkdir()
    with pytest.raises(ConfigError, match="not a regular file"):
        load(str(tmp_path), None)


@pytest.mark.parametrize("where", ["leasebox.conf", "leasebox.conf.d"])
def test_a_path_it_may_not_look_at_is_an_error_not_a_missing_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """A service whose user may not enter /etc/leasebox would otherwise run on defaults while
    `leaseboxctl check-config` (root) shows the files applied. The tests run as root, so
    the refusal is played by os.stat/os.lstat."""
    put(tmp_path, ETC, "leasebox.conf.d/50-x.conf", "[Network]\nRouteMetric=7\n")
    hidden = str(tmp_path / ETC / where)
    real_stat, real_lstat = os.stat, os.lstat

    def refuse(real: Callable[..., os.stat_result]) -> Callable[..., os.stat_result]:
        def stat(path: str, *args: object, **kwargs: object) -> os.stat_result:
            if str(path) == hidden:
                raise PermissionError(13, "Permission denied", path)
            return real(path, *args, **kwargs)
        return stat

    monkeypatch.setattr(os, "stat", refuse(real_stat))
    monkeypatch.setattr(os, "lstat", refuse(real_lstat))
    with pytest.raises(ConfigError, match=f"^{hidden}: cannot read: Permission denied"):
        load(str(tmp_path), None)


@pytest.mark.parametrize("link", ["leasebox.conf.d", "interfaces", "interfaces/eth0.conf.d"])
def test_a_directory_link_that_leads_nowhere_is_an_error(tmp_path: Path, link: str) -> None:
    """In the services' minimal root a link out of /etc/leasebox leads nowhere, though it
    works for check-config on the host: the files behind it would silently not apply."""
    elsewhere = tmp_path / "srv"
    put(elsewhere, "", "eth0.conf", net(7))
    path = tmp_path / ETC / link
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(elsewhere)
    assert metric(tmp_path) == 7  # it leads somewhere here
    target = tmp_path / "gone"
    elsewhere.rename(target)
    with pytest.raises(ConfigError, match=f"^{path}: a symbolic link to '{elsewhere}', which "
                       "is not there"):
        load(str(tmp_path), "eth0")
    target.rename(elsewhere)
    assert metric(tmp_path) == 7


def test_lines_end_where_an_editor_ends_them(tmp_path: Path) -> None:
    """LF, CR LF or CR; not a form feed or a Unicode line separator in a comment, which
    would shift every later line's number. A byte order mark is skipped."""
    conf = tmp_path / ETC / "leasebox.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("\ufeff[Network]\r\n# page\x0c\n# \u2028 docs\rRouteMetric=7\n"
                    "UseDSN=no\n", newline="")
    with pytest.raises(ConfigError, match=f"^{conf}:5: unknown key UseDSN="):
        load(str(tmp_path), None)
    conf.write_text("\ufeff[Network]\r\n# page\x0c\n# \u2028 docs\rRouteMetric=7\n",
                    newline="")
    assert metric(tmp_path) == 7


def test_an_interfaces_directory_it_cannot_list_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`check-config` without IFACE checks the interfaces with files of their own; an
    interfaces/ it could not list was skipped, and their files went unchecked. (The tests
    run as root: the refusal is played by os.listdir.)"""
    put(tmp_path, USR, "interfaces/eth0.conf", net(7))
    put(tmp_path, ETC, "interfaces/eth1.conf.d/10-a.conf", net(8))
    assert interfaces_with_files(str(tmp_path)) == ["eth0", "eth1"]
    hidden = str(tmp_path / ETC / "interfaces")
    real_listdir = os.listdir

    def listdir(path: str) -> list[str]:
        if str(path) == hidden:
            raise PermissionError(13, "Permission denied", path)
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    with pytest.raises(ConfigError, match=f"^{hidden}: cannot list: Permission denied$"):
        interfaces_with_files(str(tmp_path))
    (tmp_path / ETC / "interfaces" / "eth1.conf.d" / "10-a.conf").unlink()
    (tmp_path / ETC / "interfaces" / "eth1.conf.d").rmdir()
    (tmp_path / ETC / "interfaces").rmdir()
    (tmp_path / ETC / "interfaces").write_text("")  # not a directory: nothing in it
    assert interfaces_with_files(str(tmp_path)) == ["eth0"]


def test_the_directories_the_services_look_into(tmp_path: Path) -> None:
    """What `check-config` checks they may look into: those there, in the services' order."""
    assert looked_into(str(tmp_path), "eth0") == []
    put(tmp_path, ETC, "interfaces/eth0.conf.d/10-a.conf", net(7))
    put(tmp_path, USR, "leasebox.conf.d/10-a.conf", net(7))
    (tmp_path / RUN / "leasebox.conf.d").mkdir(parents=True)
    (tmp_path / RUN / "interfaces" / "eth1.conf.d").mkdir(parents=True)
    got = [os.path.relpath(p, tmp_path) for p in looked_into(str(tmp_path), "eth0")]
    assert got == [ETC, RUN, USR, f"{ETC}/interfaces", f"{RUN}/interfaces",
                   f"{USR}/leasebox.conf.d", f"{RUN}/leasebox.conf.d",
                   f"{ETC}/interfaces/eth0.conf.d"]
    assert looked_into(str(tmp_path), None) == looked_into(str(tmp_path), "eth0")[:-1]
