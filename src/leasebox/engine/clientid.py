"""Option 61 from ClientIdentifier=, DUID= and IAID=, once the MAC address is known.

Computed in the adapter, not read from the host: the engine sees only /usr, so it cannot
use /etc/machine-id. What it always has is the interface name (argv) and the MAC address
(from io), so the defaults are made from those:
- DUID: DUID-LL (RFC 8415 11.4), type 3, hardware type 1 (Ethernet), the MAC address;
- IAID: the first four octets of SHA-256 over the interface name: stable across reboots,
  different between interfaces, and it does not repeat the MAC the DUID already carries.
"""

from __future__ import annotations

from leasebox.config.values import ClientIdentifier

TYPE_ETHERNET = 1  # option 61 type and DUID-LL hardware type (ARP hardware type 1)
TYPE_RFC4361 = 255
DUID_LL = 3


def default_duid(mac: bytes) -> bytes:
    return DUID_LL.to_bytes(2, "big") + TYPE_ETHERNET.to_bytes(2, "big") + mac


def default_iaid(interface: str) -> int:
    import hashlib  # noqa: PLC0415 - only with ClientIdentifier=duid; ~1 MiB otherwise

    return int.from_bytes(hashlib.sha256(interface.encode("ascii")).digest()[:4], "big")


def client_identifier(mode: ClientIdentifier, mac: bytes, interface: str,
                      duid: bytes | None = None, iaid: int | None = None) -> bytes | None:
    if mode is ClientIdentifier.NONE:
        return None
    if mode is ClientIdentifier.MAC:
        return bytes((TYPE_ETHERNET,)) + mac
    chosen_iaid = default_iaid(interface) if iaid is None else iaid
    return (bytes((TYPE_RFC4361,)) + chosen_iaid.to_bytes(4, "big")
            + (default_duid(mac) if duid is None else duid))
