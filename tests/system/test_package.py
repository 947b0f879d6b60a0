"""The Debian package, installed with dpkg into a real-systemd container: what it ships, what
its maintainer scripts do (group, catalog, no instance enabled or started, restart on
upgrade without a DHCP exchange, leave the link on removal), the lintian result of its
build, and what `apt-get remove` and `purge` leave behind.

The tests share one container and run in file order: the last one removes the package.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_for

from .debpkg import Package, has_revision, package_at
from .harness import Container
from .leasebox_lab import IFACE, LeaseLab, install

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p.name for p in (REPO / "units").iterdir() if "@." in p.name)
MACHINE_UNITS = ("leasebox-bus.service", "leasebox-bus.socket")  # one per machine
PROGRAMS = ("leasebox-io", "leasebox-engine", "leasebox-netconf", "leasebox-bus",
            "leaseboxctl")
ROOT = "/usr/lib/leasebox/root"
ACQUIRED = "55ef93db5b18443b94509ad61d61b8dc"
RELEASED = "084a4a2ba8f54de49275fc45b17f08c1"
TARGET = f"leasebox@{IFACE}.target"
SERVICES = [f"leasebox-{name}@{IFACE}.service" for name in ("io", "engine", "netconf")]
LEAVE = f"leasebox-leave@{IFACE}.service"
DISPATCH_PATH = f"leasebox-dispatch@{IFACE}.path"


def loaded_units(c: Container) -> list[str]:
    """Every leasebox unit systemd knows: NAME LOAD ACTIVE SUB."""
    out = c.run(["systemctl", "list-units", "--all", "--plain", "--no-legend",
                 "leasebox*"]).stdout
    return [" ".join(line.split()[:4]) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def package(container: Container) -> Package:
    return install(container)


@pytest.fixture(scope="module")
def files(container: Container, package: Package) -> set[str]:
    return set(container.run(["dpkg", "-L", "leasebox"]).stdout.splitlines())


@pytest.fixture
def lab(container: Container, package: Package) -> Iterator[LeaseLab]:
    lab = LeaseLab(container)
    lab.start_dnsmasq()
    try:
        yield lab
    finally:
        lab.close()


def test_dpkg_says_installed_with_debian_dependencies(container: Container,
                                                      package: Package) -> None:
    status = container.run(["dpkg", "-s", "leasebox"]).stdout
    assert "Status: install ok installed" in status
    depends = next(line for line in status.splitlines() if line.startswith("Depends:"))
    # pyproject's pyroute2, systemd-python and jeepney, as Debian names them; and the
    # user database leasebox-bus names the dynamic users with
    assert "python3-pyroute2" in depends and "python3-systemd" in depends
    assert "python3-jeepney" in depends and "libnss-systemd" in depends
    assert "pyroute2 " not in depends.replace("python3-pyroute2", "")


def test_file_list(files: set[str], container: Container) -> None:
    for unit in (*TEMPLATES, *MACHINE_UNITS):
        assert f"/usr/lib/systemd/system/{unit}" in files
    for program in PROGRAMS:
        assert f"/usr/bin/{program}" in files
    assert "/usr/bin/leasebox-launch" not in files  # development only
    # the root's mount points, all of them (see test_confinement: systemd makes none)
    for d in ("usr", "proc", "dev", "run", "tmp", "var", "sys", "var/tmp", "root", "etc",
              "etc/leasebox"):
        assert f"{ROOT}/{d}" in files
    for link in ("bin", "lib", "lib64", "sbin"):
        assert container.run(["readlink", f"{ROOT}/{link}"]).stdout.strip() == f"usr/{link}"
    assert "/usr/lib/sysusers.d/leasebox.conf" in files
    assert "/usr/lib/systemd/catalog/leasebox.catalog" in files
    assert "/usr/lib/python3/dist-packages/leasebox/__init__.py" in files
    assert "/usr/share/python3/runtime.d/leasebox.rtupdate" in files
    assert "/usr/share/doc/leasebox/copyright" in files
    for page in ("leasebox", "leaseboxctl", "leasebox-io", "leasebox-engine",
                 "leasebox-netconf", "leasebox-bus"):
        assert f"/usr/share/man/man8/{page}.8.gz" in files
    if (REPO / "man" / "leasebox.conf.5").exists():
        assert "/usr/share/man/man5/leasebox.conf.5.gz" in files
    if (REPO / "packaging" / "leasebox.conf").exists():
        assert "/etc/leasebox/leasebox.conf" in files
        conffiles = container.run(["dpkg-query", "-W", "-f=${Conffiles}", "leasebox"]).stdout
        assert "/etc/leasebox/leasebox.conf" in conffiles


def test_postinst_made_the_group_and_the_catalog_and_enabled_nothing(
        container: Container, package: Package) -> None:
    assert container.run(["getent", "group", "leasebox"]).stdout.startswith("leasebox:")
    # systemd's dpkg trigger on /usr/lib/systemd/catalog ran journalctl --update-catalog
    assert "DHCP lease acquired on" in container.run(
        ["journalctl", "--list-catalog", ACQUIRED]).stdout
    assert loaded_units(container) == [], "installing must start nothing"
    wants = container.run(["find", "/etc/systemd/system", "-name", "leasebox*"]).stdout
    assert wants.strip() == "", f"installing must enable nothing:\n{wants}"


def test_programs_run_under_debians_python_in_the_minimal_root(container: Container,
                                                              package: Package) -> None:
    for program in PROGRAMS:
        first = container.run(["head", "-n1", f"/usr/bin/{program}"]).stdout.strip()
        assert first == "#! /usr/bin/python3 -IS", f"{program}: {first}"
    # -S: a leasebox (or pyroute2) pip left in /usr/local shadows nothing
    local = container.run(["/usr/bin/python3", "-c", "import sys; print("
                           "f'/usr/local/lib/python3.{sys.version_info[1]}/dist-packages')"]
                          ).stdout.strip()
    container.write_file(f"{local}/leasebox/__init__.py", "raise SystemExit('shadowed')\n")
    try:
        assert "usage: leaseboxctl" in container.run(["leaseboxctl", "--help"]).stdout
    finally:
        container.run(["rm", "-rf", f"{local}/leasebox"])
    # what the services get: the minimal root, /usr read-only, a dynamic user
    out = container.run([
        "systemd-run", "--quiet", "--wait", "--pipe", "--collect",
        f"-pRootDirectory={ROOT}", "-pBindReadOnlyPaths=/usr:/usr:norbind", "-pMountAPIVFS=yes",
        "-pDynamicUser=yes", "-pNoNewPrivileges=yes",
        "/usr/bin/python3", "-I", "-c", "import leasebox.ctl.main as m; print(m.__file__)",
    ]).stdout.strip()
    assert out == "/usr/lib/python3/dist-packages/leasebox/ctl/main.py"
    help_text = container.run([
        "systemd-run", "--quiet", "--wait", "--pipe", "--collect",
        f"-pRootDirectory={ROOT}", "-pBindReadOnlyPaths=/usr:/usr:norbind", "-pMountAPIVFS=yes",
        "-pDynamicUser=yes", "/usr/bin/leaseboxctl", "--help"]).stdout
    assert "usage: leaseboxctl" in help_text


def test_systemd_analyze_verify_is_clean_on_the_installed_instances(
        container: Container, files: set[str]) -> None:
    instances = [unit.replace("@.", f"@{IFACE}.") for unit in TEMPLATES] + list(MACHINE_UNITS)
    # --man=no: the container has no man-db; the Documentation= pages are checked below
    r = container.run(["systemd-analyze", "verify", "--man=no", *instances], check=False)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", (
        f"systemd-analyze verify {' '.join(instances)}:\n{r.stdout}{r.stderr}")
    for unit in instances:
        docs = container.run(["systemctl", "show", "-p", "Documentation", "--value",
                              unit]).stdout.split()
        for doc in docs:
            m = re.fullmatch(r"\"?man:([\w.-]+)\((\d)\)\"?", doc)  # show quotes each
            assert m, f"{unit}: Documentation={doc} is not a man page"
            page, section = m.groups()
            if page == "leasebox.conf" and not (REPO / "man" / "leasebox.conf.5").exists():
                continue  # written with the configuration system
            assert f"/usr/share/man/man{section}/{page}.{section}.gz" in files, (unit, page)


def test_lintian_found_no_error(package: Package) -> None:
    errors = [line for line in package.lintian.splitlines() if line.startswith(("E:", "W:"))]
    assert not errors, "\n".join(errors)


# The last commit whose engine.sock and netconf.sock were in /run/leasebox/IFACE, group
# leasebox, bound into the units as that directory.
OLD_SOCKET_LAYOUT = "a1ebe0c05fb01f8f924445635693f44c2b8adfa9"


@pytest.mark.skipif(not has_revision(OLD_SOCKET_LAYOUT),
                    reason=f"{OLD_SOCKET_LAYOUT[:12]} is not in this clone's history")
def test_upgrade_from_the_old_socket_layout_keeps_the_lease_working(
        lab: LeaseLab, package: Package) -> None:
    """After daemon-reload a running socket unit whose path changed holds no socket until
    it is restarted: postinst restarts them, and the units bound to their files with them."""
    c = lab.c
    old = package_at(OLD_SOCKET_LAYOUT)
    c.copy_in(old.deb, "/tmp/leasebox-old.deb")
    c.copy_in(package.deb, "/tmp/leasebox.deb")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        c.run(["dpkg", "-i", "/tmp/leasebox-old.deb"], timeout=120, env=env)
        c.run(["systemctl", "start", TARGET])
        addr = lab.wait_address()
        lab.wait_bound()
        assert c.run(["test", "-S", f"/run/leasebox/{IFACE}/engine.sock"],
                     check=False).returncode == 0  # the old layout indeed
        # made by someone else, open: the package's tmpfiles.d line must close it
        c.run(["rm", "-rf", "/run/leasebox-ipc"])
        c.run(["install", "-d", "-m", "0755", "/run/leasebox-ipc"])
        before = lab.count("DHCPDISCOVER"), lab.count("DHCPREQUEST")
        c.run(["dpkg", "-i", "/tmp/leasebox.deb"], timeout=120, env=env)
        lab.wait_bound()
        time.sleep(0.5)  # room for an exchange that must not happen
        assert (lab.count("DHCPDISCOVER"), lab.count("DHCPREQUEST")) == before
        requests = before[1]
        c.run(["leaseboxctl", "renew", IFACE])  # through every socket of the new layout
        wait_for("the renewal at dnsmasq", lambda: lab.count("DHCPREQUEST") > requests, 10)
        wait_for("Renewed in the journal", lambda: "Renewed" in lab.journal(
            "-u", SERVICES[1], "-o", "cat"), 10)
        again = lab.address()
        assert again is not None and again["local"] == addr["local"]
        assert lab.count("DHCPDISCOVER") == before[0]  # the lease was never lost
        left = c.run(["sh", "-c", f"ls /run/leasebox/{IFACE}; stat -c '%a %U %n' "
                      f"/run/leasebox-ipc /run/leasebox-ipc/{IFACE}"]).stdout.split("\n")
        assert left[0] == "control.sock", left
        assert left[1:3] == ["700 root /run/leasebox-ipc", f"700 root /run/leasebox-ipc/{IFACE}"]
    finally:
        c.run(["systemctl", "stop", TARGET], check=False)
        c.run(["dpkg", "-i", "/tmp/leasebox.deb"], timeout=120, env=env)
        c.run(["rm", "-f", "/tmp/leasebox-old.deb", "/tmp/leasebox.deb"])


def test_upgrade_restarts_running_services_without_an_exchange(lab: LeaseLab,
                                                               package: Package) -> None:
    c = lab.c
    c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    lab.wait_bound()
    before = lab.count("DHCPDISCOVER"), lab.count("DHCPREQUEST")
    pids = {unit: lab.main_pid(unit) for unit in SERVICES}
    # as after an upgrade from a target that did not want it yet (before 9bb84db): the
    # running target, enabled, is started again, which starts what it wants and nothing
    # else anew
    c.run(["systemctl", "enable", TARGET])
    c.run(["systemctl", "stop", DISPATCH_PATH])
    c.copy_in(package.deb, "/tmp/leasebox.deb")
    c.run(["dpkg", "-i", "/tmp/leasebox.deb"], timeout=120,
          env={"DEBIAN_FRONTEND": "noninteractive"})  # same version again: an upgrade
    assert c.run(["systemctl", "is-active", DISPATCH_PATH],
                 check=False).stdout.strip() == "active"
    c.run(["systemctl", "disable", TARGET])
    for unit, old in pids.items():
        def restarted(u: str = unit, o: int = old) -> bool:
            return lab.main_pid(u) not in (0, o)

        wait_for(f"{unit} restarted", restarted, 15)
    lab.wait_bound()
    time.sleep(0.5)  # room for an exchange that must not happen
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]
    assert (lab.count("DHCPDISCOVER"), lab.count("DHCPREQUEST")) == before


def test_a_new_default_python_gets_byte_code_and_what_failed_started_again(
        lab: LeaseLab, package: Package) -> None:
    """A Debian 12 to 13 upgrade makes 3.13 the default Python: nothing recompiled a package
    built for 3.11, and the services, which cannot write /usr, would have compiled
    leasebox at every start; a service started in the upgrade while 3.13's standard library
    was not unpacked yet failed with its interface's others. python3's postinst runs the
    package's runtime hook: byte-code for the (new) default version, and the enabled
    interfaces started again."""
    c = lab.c
    hook = "/usr/share/python3/runtime.d/leasebox.rtupdate"
    pyc = "find /usr/lib/python3/dist-packages/leasebox -name '*.pyc'"  # (one Python here)
    before = c.run(["sh", "-c", pyc]).stdout.split()
    assert len(before) > 50
    c.run(["py3clean", "-p", "leasebox"])
    assert c.run(["sh", "-c", pyc]).stdout.split() == []
    c.run(["systemctl", "enable", TARGET])
    try:
        c.run(["systemctl", "stop", TARGET])  # as the services taken down by the failure
        version = c.run(["python3", "-c", "import sys; print('python%d.%d' % "
                         "sys.version_info[:2])"]).stdout.strip()
        c.run([hook, "pre-rtupdate", version, version])  # nothing yet
        assert c.run(["systemctl", "is-active", TARGET], check=False).stdout.strip() != "active"
        c.run([hook, "rtupdate", version, version], timeout=120)
        assert sorted(c.run(["sh", "-c", pyc]).stdout.split()) == sorted(before)
        wait_for("the target started again", lambda: c.run(
            ["systemctl", "is-active", TARGET], check=False).stdout.strip() == "active", 15)
        lab.wait_bound()
    finally:
        c.run(["systemctl", "disable", "--now", TARGET], check=False)


def test_maintainer_scripts_for_another_root_leave_this_system_alone(
        lab: LeaseLab, package: Package) -> None:
    """dpkg --root with --force-script-chrootless (mmdebstrap's chrootless mode) runs the
    scripts here with DPKG_ROOT set: they act on that tree, never on this system's
    services or files."""
    c = lab.c
    c.run(["systemctl", "start", TARGET])
    lab.wait_bound()
    other = "/tmp/other-root"
    wants = f"{other}/etc/systemd/system/multi-user.target.wants"
    c.run(["mkdir", "-p", f"{other}/run/leasebox-conf", f"{other}/var/lib/private/leasebox/x",
           wants, f"{other}/etc/systemd/system/own"])
    # enabled there (absolute links, as systemctl makes them: this system has the file
    # they name, that root does not), and an administrator's own unit there, kept
    c.run(["ln", "-s", "/usr/lib/systemd/system/leasebox@.target", f"{wants}/leasebox@x.target"])
    c.run(["touch", f"{other}/etc/systemd/system/own/leasebox-own.service"])
    c.run(["ln", "-s", "/etc/systemd/system/own/leasebox-own.service",
           f"{wants}/leasebox-own.service"])
    try:
        # (only postrm: debhelper's snippets in prerm and postinst, py3clean and
        # systemd-tmpfiles --root, need that root's dpkg database and files, which a tree
        # made here has not; leasebox's own parts there have the same guard)
        for script, action in (("postrm", "remove"), ("postrm", "purge")):
            c.run(["env", f"DPKG_ROOT={other}", "sh", f"/var/lib/dpkg/info/leasebox.{script}",
                   action], timeout=60)
        assert c.run(["systemctl", "is-active", TARGET], check=False).stdout.strip() == "active"
        assert c.run(["test", "-d", "/run/leasebox-conf"], check=False).returncode == 0
        for runtime in (f"/run/leasebox/{IFACE}", f"/run/leasebox-ipc/{IFACE}"):
            assert c.run(["test", "-d", runtime], check=False).returncode == 0, runtime
        # purge cleaned that tree instead
        assert c.run(["sh", "-c", f"find {other} ! -type d | sort"]).stdout.split() == [
            f"{other}/etc/systemd/system/multi-user.target.wants/leasebox-own.service",
            f"{other}/etc/systemd/system/own/leasebox-own.service"]
        assert c.run(["test", "-e", f"{other}/run/leasebox-conf"], check=False).returncode
        lab.wait_bound()
    finally:
        c.run(["rm", "-rf", other])
        c.run(["systemctl", "stop", TARGET], check=False)


def test_remove_leaves_the_link_and_purge_leaves_no_units(lab: LeaseLab,
                                                         package: Package) -> None:
    c = lab.c
    # a hook: the events of the removal itself are not run at a later install
    hook, hook_log = "/etc/leasebox/dispatch.d/10-record", "/tmp/hook.log"
    c.run(["mkdir", "-p", "/etc/leasebox/dispatch.d"])
    c.write_file(hook, f'#!/bin/sh\necho "$1" >> {hook_log}\n')
    c.run(["chmod", "0755", hook])
    c.run(["systemctl", "enable", "--now", TARGET])
    addr = lab.wait_address()
    lab.wait_bound()
    wait_for("the hook's bound", lambda: c.run(["cat", hook_log], check=False).stdout
             == "bound\n", 15)
    # Only an active leave unit runs its ExecStop= (leaseboxctl leave): a stop that comes
    # while it is still starting cancels it, and the link is not left. That is the units'
    # business; here the question is what removal does once leasebox runs.
    wait_for("the leave unit active", lambda: c.run(
        ["systemctl", "is-active", LEAVE], check=False).stdout.strip() == "active", 10)
    released_before = len(lab.journal(f"MESSAGE_ID={RELEASED}", "-o", "cat").splitlines())
    c.run(["apt-get", "remove", "-y", "leasebox"], timeout=120,
          env={"DEBIAN_FRONTEND": "noninteractive"})
    # prerm stopped the target, so the link was left: released (that the DHCPRELEASE
    # reaches the server is test_lifecycle's business), configuration removed
    assert lab.address() is None
    released = lab.journal(f"MESSAGE_ID={RELEASED}", "-o", "cat").splitlines()[released_before:]
    assert len(released) == 1 and addr["local"] in released[0], lab.journal(
        "-u", f"leasebox*@{IFACE}*", "-o", "cat")
    assert loaded_units(c) == [f"{TARGET} not-found inactive dead"], (
        "after remove only the enabled target may be known, as not-found (its enable link "
        "is the administrator's configuration, which remove keeps)")
    files = c.run(["systemctl", "list-unit-files", "--no-legend", "leasebox*"],
                  check=False).stdout  # status 1: no such unit file
    assert files.strip() == "", files
    # the stopped services' socket directories go; the runtime configuration directory
    # stays, as configuration, and so do netconf's and leasebox-bus's records of what a
    # kept configuration left (none here: the link was left)
    left = c.run(["sh", "-c", "ls -d /run/leasebox /run/leasebox-ipc 2>/dev/null"],
                 check=False).stdout
    assert left.strip() == "", f"remove left:\n{left}"
    for kept in ("/run/leasebox-conf", "/run/leasebox-bus"):
        assert c.run(["test", "-d", kept], check=False).returncode == 0, kept
    # remove keeps the configuration: the conffile, the enable link, the lease files
    status = c.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "leasebox"]).stdout
    assert status.strip() == "rc"

    # installed again: what is enabled runs at once, not at the next boot
    c.copy_in(package.deb, "/tmp/leasebox.deb")
    c.run(["dpkg", "-i", "/tmp/leasebox.deb"], timeout=120,
          env={"DEBIAN_FRONTEND": "noninteractive"})
    c.run(["rm", "-f", "/tmp/leasebox.deb"])
    assert c.run(["systemctl", "is-active", TARGET], check=False).stdout.strip() == "active"
    lab.wait_address()
    lab.wait_bound()
    # the "released" queued as the removal left the link (its dispatcher had gone) is not
    # run now, maybe days later, for an address that may be someone else's
    wait_for("the hook's bound again", lambda: c.run(["cat", hook_log]).stdout.splitlines()[
        -1:] == ["bound"] and c.run(["cat", hook_log]).stdout.count("\n") >= 2, 15)
    assert c.run(["cat", hook_log]).stdout.splitlines() == ["bound", "bound"]
    c.run(["rm", "-rf", "/etc/leasebox/dispatch.d", hook_log])

    c.run(["apt-get", "purge", "-y", "leasebox"], timeout=120,
          env={"DEBIAN_FRONTEND": "noninteractive"})
    left = c.run(["sh", "-c", "ls -d /etc/leasebox /var/lib/leasebox /var/lib/private/leasebox "
                  "/run/leasebox /run/leasebox-ipc /run/leasebox-netconf /run/leasebox-conf "
                  "/run/leasebox-bus /usr/lib/leasebox /run/private/leasebox-netconf "
                  "2>/dev/null; "
                  "find /etc/systemd /usr/lib/systemd /lib/systemd -name 'leasebox*' "
                  "! -name leasebox-test.conf; find /usr/lib/leasebox"],
                 check=False).stdout
    assert left.strip() == "", f"purge left:\n{left}"
    assert loaded_units(c) == []
    assert c.run(["dpkg-query", "-W", "leasebox"], check=False).returncode != 0
    # what stays, as Debian leaves system groups: files may still carry the id
    assert c.run(["getent", "group", "leasebox"], check=False).returncode == 0
