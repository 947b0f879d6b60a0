"""Fixtures for system tests: a real systemd under systemd-nspawn (see harness.py).

* ``suite`` (session, parametrized): each system test runs once per supported Debian
  release, bookworm (Debian 12) and trixie (Debian 13). LEASEBOX_SUITES=bookworm (or a
  comma-separated list) narrows it for a quick local loop; CI runs both.
* ``container_tree`` (session): the cached Debian tree of that suite, built on first use
  (~60 s, progress shown even under pytest's output capture).
* ``container_options`` (module): keyword arguments for :class:`Container`; override it in a
  test module, e.g. to bind the checkout in read-only::

      @pytest.fixture(scope="module")
      def container_options() -> dict[str, object]:
          return {"binds_ro": {str(REPO): "/src/leasebox"}}

* ``container`` (module): one booted container per test module, stopped (and checked to have
  left nothing behind) after the module's last test.

Tests are skipped when not running as root; anything else that goes wrong fails loudly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import SUITES, Container, ensure_tree, host_leftovers, log_stderr, reap_stale
from .leasebox_lab import LeaseLab


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("system tests need root (debootstrap, systemd-nspawn, cgroups)")


def selected_suites() -> list[str]:
    wanted = [s.strip() for s in os.environ.get("LEASEBOX_SUITES", "").split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SUITES))
    if unknown:
        raise pytest.UsageError(f"LEASEBOX_SUITES: unknown suite(s) {unknown}; "
                                f"supported: {', '.join(SUITES)}")
    return wanted or list(SUITES)


@pytest.fixture(scope="session", params=selected_suites())
def suite(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def container_tree(request: pytest.FixtureRequest, suite: str) -> Path:
    _need_root()
    reap_stale()  # containers of an earlier run that was killed outright
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        return ensure_tree(suite=suite)
    with capman.global_and_fixture_disabled():  # show build progress on the terminal
        return ensure_tree(suite=suite, log=log_stderr)


@pytest.fixture(scope="module")
def container_options() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def container(container_tree: Path, container_options: dict[str, Any]) -> Iterator[Container]:
    c = Container(container_tree, **container_options)
    with c:
        yield c
    leftovers = host_leftovers(c.name)
    assert not leftovers, f"container {c.name} left behind: {leftovers}"


@pytest.fixture(scope="module")
def installed(container: Container) -> Container:
    """The module's container with leasebox installed from its Debian package."""
    from .leasebox_lab import install

    install(container)
    return container


@pytest.fixture
def lab(installed: Container) -> Iterator[LeaseLab]:
    """veth0 in the container, dnsmasq behind veth1 in netns srv; torn down after the test
    (which also stops leasebox@veth0.target)."""
    lab = LeaseLab(installed)
    lab.start_dnsmasq()
    try:
        yield lab
    finally:
        lab.close()
