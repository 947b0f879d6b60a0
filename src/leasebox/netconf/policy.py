"""netconf's own policy: what it will accept from the engine, read from --policy-file.

The engine never supplies policy; a compromised engine can only ask for values inside it.
A small INI file with systemd semantics (mkosi's settings-table shape): one `[Network]`
section; an empty assignment resets a setting to its default; a repeated list key
accumulates, a repeated scalar key keeps the last value; `#`/`;` start comment lines.
Anything the parser does not know is an error naming file:line, so a typo cannot silently
widen or narrow the policy.

    [Network]
    AllowedAddresses=192.0.2.0/24 198.51.100.0/24
    RouteMetric=1024
    UseDNS=yes
    UseDomains=yes
    UseRoutes=yes
    UseGateway=yes
    UseMTU=yes
    ClasslessRoutes=main          # or: ignore, table:N
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

SECTION = "Network"
RT_TABLE_MAIN = 254
# Tables a DHCP lease must not write into: unspec, the compat "default" and "local" tables.
_RESERVED_TABLES = frozenset({0, 253, 255})
_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})
_FALSE = frozenset({"0", "no", "n", "false", "f", "off"})


class PolicyError(Exception):
    """The policy file is wrong. str() is `path:line: what`, for the log and exit 78."""

    def __init__(self, path: str, line: int, what: str) -> None:
        super().__init__(f"{path}:{line}: {what}")
        self.path, self.line, self.what = path, line, what


@dataclass(frozen=True, slots=True)
class Policy:
    allowed_addresses: tuple[IPv4Network, ...] = ()  # empty: any address passing the checks
    route_metric: int = 1024
    use_dns: bool = True
    use_domains: bool = True
    use_routes: bool = True  # option 121 routes other than a default route
    use_gateway: bool = True  # the default route (option 3, or 0.0.0.0/0 in option 121)
    use_mtu: bool = True
    classless_table: int | None = RT_TABLE_MAIN  # None: ignore option 121 (as if absent)


# ---- value parsers: each raises ValueError with a message fit for the log -------------------


def _parse_bool(value: str) -> bool:
    low = value.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _parse_u32(value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"not an unsigned number: {value!r}")
    number = int(value)
    if number > 0xFFFFFFFF:
        raise ValueError(f"out of range 0..4294967295: {value}")
    return number


def _parse_networks(value: str) -> tuple[IPv4Network, ...]:
    out = []
    for word in value.split():
        try:
            # strict: host bits set in a range is a typo we would rather hear about
            out.append(IPv4Network(word, strict=True))
        except ValueError as exc:
            raise ValueError(f"not an IPv4 range: {word!r} ({exc})") from None
    return tuple(out)


def _parse_classless(value: str) -> int | None:
    if value == "main":
        return RT_TABLE_MAIN
    if value == "ignore":
        return None
    kind, sep, number = value.partition(":")
    if kind == "table" and sep:
        table = _parse_u32(number)
        if table in _RESERVED_TABLES:
            raise ValueError(f"table {table} is reserved")
        return table
    raise ValueError(f"expected main, ignore or table:N, not {value!r}")


@dataclass(frozen=True, slots=True)
class _Setting:
    key: str  # INI name
    field: str  # Policy attribute
    parse: Callable[[str], Any]
    accumulate: bool = False  # list settings: repeated keys add up


SETTINGS: tuple[_Setting, ...] = (
    _Setting("AllowedAddresses", "allowed_addresses", _parse_networks, accumulate=True),
    _Setting("RouteMetric", "route_metric", _parse_u32),
    _Setting("UseDNS", "use_dns", _parse_bool),
    _Setting("UseDomains", "use_domains", _parse_bool),
    _Setting("UseRoutes", "use_routes", _parse_bool),
    _Setting("UseGateway", "use_gateway", _parse_bool),
    _Setting("UseMTU", "use_mtu", _parse_bool),
    _Setting("ClasslessRoutes", "classless_table", _parse_classless),
)
_BY_KEY = {s.key: s for s in SETTINGS}


def parse_policy(lines: Iterable[str], path: str) -> Policy:
    defaults = Policy()
    values: dict[str, Any] = {}
    section: str | None = None
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise PolicyError(path, lineno, f"bad section header {line!r}")
            section = line[1:-1]
            if section != SECTION:
                raise PolicyError(path, lineno, f"unknown section [{section}]")
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise PolicyError(path, lineno, f"expected Key=value, not {line!r}")
        if section is None:
            raise PolicyError(path, lineno, f"{key}= outside a [{SECTION}] section")
        setting = _BY_KEY.get(key)
        if setting is None:
            raise PolicyError(path, lineno, f"unknown key {key}= in [{SECTION}]")
        if not value:
            values[setting.field] = getattr(defaults, setting.field)
            continue
        try:
            parsed = setting.parse(value)
        except ValueError as exc:
            raise PolicyError(path, lineno, f"{key}=: {exc}") from None
        if setting.accumulate:
            parsed = tuple(values.get(setting.field, ())) + tuple(parsed)
        values[setting.field] = parsed
    return dataclasses.replace(defaults, **values)


def load_policy(path: str | None) -> Policy:
    """Read the policy file; no file given means the defaults. Raises PolicyError."""
    if path is None:
        return Policy()
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_policy(handle.read().splitlines(), path)
    except UnicodeDecodeError as exc:
        raise PolicyError(path, 0, f"not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise PolicyError(path, 0, f"cannot read: {exc.strerror}") from None
