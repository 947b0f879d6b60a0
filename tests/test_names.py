"""core.names and runtime.ifname: the name rules, written without `re` (io loads nothing else
that needs it), checked against RFC 1123's syntax spelled as a regular expression."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leasebox.core.names import MAX_NAME, domain_problem, hostname_problem
from leasebox.runtime import ifname

LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ORACLE = re.compile(rf"{LABEL}(?:\.{LABEL})*", re.ASCII)


def oracle_ok(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and ORACLE.fullmatch(name) is not None


# names near the rule's edges: its characters, dots, hyphens, a few that must never pass
NEAR = st.text(alphabet=st.sampled_from("aZ09-._ \u00e9\u0661\u212a\n"), max_size=80)
LABELS = st.lists(st.text(alphabet="ab9-", min_size=0, max_size=66), min_size=1,
                  max_size=5).map(".".join)


@given(st.one_of(NEAR, LABELS, st.text(max_size=300)))
def test_the_rule_is_rfc_1123_syntax(name: str) -> None:
    assert (hostname_problem(name) is None) == oracle_ok(name)


@pytest.mark.parametrize(("name", "ok"), [
    ("a", True), ("a-b.example", True), ("x" * 63, True), ("x" * 64, False),
    (".".join(["x" * 63] * 4)[:253], True), ("a" * 254, False), ("-a", False), ("a-", False),
    ("a..b", False), ("", False), ("h\u00f6st", False), ("\u0661", False), ("K", True),
    ("\u212a", False),  # the Kelvin sign, which a case-insensitive Unicode match takes for K
])
def test_edges(name: str, ok: bool) -> None:
    assert (hostname_problem(name) is None) is ok


def test_one_trailing_dot_for_a_domain() -> None:
    assert domain_problem("example.com.") is None
    assert domain_problem("example.com..") is not None
    assert hostname_problem("example.com.") is not None


# the kernel's names in a safe ASCII set, and what systemd takes in a dynamic user's name
IFNAME_ORACLE = re.compile(r"[A-Za-z0-9_-]{1,15}", re.ASCII)


@given(st.one_of(st.text(alphabet=st.sampled_from("a9_.@-/: \u00e9\u0661"), max_size=18),
                 st.text(max_size=20)))
def test_interface_names_are_the_kernels_in_a_safe_ascii_set(name: str) -> None:
    expected = (IFNAME_ORACLE.fullmatch(name) is not None and name not in (".", "..")
                and not name.startswith(("-", *ifname.RESERVED_PREFIXES)))
    try:
        assert ifname.check(name) == name and expected
    except ValueError:
        assert not expected


def test_an_escaped_instance_name_is_explained() -> None:
    """`leasebox@$(systemd-escape br-lan).target` gives br\\x2dlan: not a name, and why."""
    with pytest.raises(ValueError, match="not systemd-escape'd"):
        ifname.check("br\\x2dlan")
    with pytest.raises(ValueError, match=r"invalid interface name 'bad/name'$"):
        ifname.check("bad/name")
