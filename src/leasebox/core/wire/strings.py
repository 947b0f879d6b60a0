"""Safe character sets for text that comes from a DHCP server.

A string that fails these checks is never passed on (the option is dropped). Nothing the
codec returns can carry a newline, a control byte, a quote, a '$', ';' or backtick, or a
leading '-' that a later consumer might misread as a command-line flag. The one space it
passes on is the one between option 15's names, which the lease splits; the captive
portal's URI keeps '&()*!' (see _URI_CHARS). The encoder applies the same checks, so
leasebox never sends what it would refuse to read.
"""

from __future__ import annotations

import re

from leasebox.core.names import hostname_problem
from leasebox.core.wire.errors import BadOption

__all__ = ["decode_domain_names", "decode_hostname", "decode_portal", "domain_names_problem",
           "hostname_problem", "message_problem", "portal_problem"]

# RFC 8910 captive portal: an https URI. Allowed are RFC 3986 characters minus space,
# quotes, backslash, ';', '$', backtick and '<>{}|^' (what breaks quoting, substitutes or
# escapes); '&', '(', ')', '*' and '!' stay, as query strings need '&': the URI is shown,
# logged and handed to nothing that runs a shell, and must never be. A '%' must start a
# well-formed percent-escape.
_URI_CHARS = r"[A-Za-z0-9._~:@!&()*+,=\[\]-]|%[0-9A-Fa-f]{2}"
_PORTAL = re.compile(rf"https://(?:{_URI_CHARS})+(?:[/?#](?:{_URI_CHARS}|[/?#])*)?", re.ASCII)
CAPPORT_UNRESTRICTED = "urn:ietf:params:capport:unrestricted"

_PRINTABLE = re.compile(r"[\x20-\x7e]+", re.ASCII)


def portal_problem(uri: str) -> str | None:
    if _PORTAL.fullmatch(uri) is None:
        return "not an https URI of safe characters"
    return None


def message_problem(text: str) -> str | None:
    if _PRINTABLE.fullmatch(text) is None:
        return "not printable ASCII"
    return None


def _wire_text(raw: bytes) -> str:
    # RFC 2132 2: "the receiver of such options MUST be prepared to delete trailing nulls".
    # latin-1 maps every byte to one character, so the checks below see every byte as it was.
    return raw.rstrip(b"\0").decode("latin-1")


def decode_hostname(raw: bytes) -> str:
    """Option 12 or 15. One trailing dot (a fully qualified spelling) is accepted and removed."""
    name = _wire_text(raw)
    if name.endswith("."):
        name = name[:-1]
    problem = hostname_problem(name)
    if problem:
        raise BadOption(problem)
    return name


def decode_domain_names(raw: bytes) -> str:
    """Option 15: one domain name, or several separated by spaces, as AWS's DHCP option
    sets and ISC's `option domain-name "a.example b.example"` send (dhclient and dhcpcd
    take the others as the search list: see core.machine.lease). Each is checked as option
    12's name; they come back joined by single spaces."""
    # the root alone ("."), as option 119 has it (core.wire.domain), is no name to use
    names = [name[:-1] if name.endswith(".") else name
             for name in _wire_text(raw).split(" ") if name and name != "."]
    problem = domain_names_problem(" ".join(names))
    if problem:
        raise BadOption(problem)
    return " ".join(names)


def domain_names_problem(text: str) -> str | None:
    if not text:
        return "empty name"
    for name in text.split(" "):
        problem = hostname_problem(name)
        if problem:
            return problem
    return None


# RFC 4702 2.1: option 81's flags octet
FQDN_S, FQDN_O, FQDN_E, FQDN_N = 0x01, 0x02, 0x04, 0x08


def client_fqdn(name: str, server_updates: bool, no_updates: bool) -> bytes:
    """Option 81 as a client sends it (RFC 4702): flags, two zero RCODE octets, the name in
    canonical wire format (E set; a complete name, so it ends with the root label). S asks
    the server to update the A record too; N asks it to update nothing. Raises BadOption
    for a name that is not a valid host name with at least two labels."""
    problem = hostname_problem(name)
    if problem or "." not in name:
        raise BadOption(problem or f"{name!r} is not a fully qualified name")
    flags = FQDN_E | (FQDN_N if no_updates else FQDN_S if server_updates else 0)
    labels = b"".join(bytes((len(label),)) + label.encode("ascii")
                      for label in name.split("."))
    return bytes((flags, 0, 0)) + labels + b"\0"


def decode_portal(raw: bytes) -> str | None:
    """Option 114. None for RFC 8910's 'no captive portal' URN."""
    uri = _wire_text(raw)
    if uri == CAPPORT_UNRESTRICTED:
        return None
    problem = portal_problem(uri)
    if problem:
        raise BadOption(problem)
    return uri


def decode_message(raw: bytes) -> str:
    """Option 56, shown to an operator: printable ASCII only."""
    text = _wire_text(raw)
    problem = message_problem(text)
    if problem:
        raise BadOption(problem)
    return text
