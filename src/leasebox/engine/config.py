"""The engine's part of leasebox.conf, turned into what the engine service runs with.

Only [DHCPv4], KeepConfiguration= and ControlGroup= are read here (Scope.ENGINE); netconf
reads its policy itself. Anonymize= (RFC 7844) is applied here, so the state machine sees
only the result: no host name, no vendor class, the short request list, the MAC address as
client identifier.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address

from leasebox.config import settings as s
from leasebox.config.files import INTERFACES
from leasebox.config.parse import Config, ConfigError, Source, View
from leasebox.config.settings import Scope, Setting
from leasebox.config.values import ClientIdentifier, FQDNUpdate, SendRelease, ServerSpec
from leasebox.core import wire
from leasebox.core.generics import TYPE_CHECKING
from leasebox.core.machine import requests
from leasebox.core.machine.types import ClientConfig
from leasebox.core.record import record, replace
from leasebox.core.values import CAPTIVE_PORTAL_OPTION
from leasebox.core.wire.limits import MAX_UNKNOWN_OPTIONS
from leasebox.core.wire.strings import client_fqdn, hostname_problem
from leasebox.engine import clientid
from leasebox.ipc.messages import MAX_BOOTP

if TYPE_CHECKING:
    from typing import Any

VENDOR_SPECIFIC, USER_CLASS = 43, 77


@record
class EngineConfig:
    client: ClientConfig  # client_id is filled in per MAC address (see clientid.py)
    client_id: ClientIdentifier
    duid: bytes | None
    iaid: int | None
    keep_configuration: bool
    control_gid: int | None
    release_at_shutdown: bool = False
    use_captive_portal: bool = True
    fqdn: str | None = None  # sent in option 81 (for the status)
    files: tuple[str, ...] = ()
    allow_servers: tuple[ServerSpec, ...] = ()
    deny_servers: tuple[ServerSpec, ...] = ()  # what it was read from, for the start-up log line
    warnings: tuple[str, ...] = ()  # logged at start, printed by check-config


def usable_hostname(name: str | None) -> str | None:
    """The system's host name, if it is one worth sending."""
    if name is None:
        return None
    name = name.rstrip(".")
    if hostname_problem(name) or name.split(".")[0].lower() == "localhost":
        return None
    return name


def own_options(view: View) -> tuple[tuple[int, bytes], ...]:
    """SendOption=, SendVendorOption= (as option 43) and UserClass= (option 77), by code."""
    sent: dict[int, bytes] = {}
    for code, data in view[s.SEND_OPTION]:
        sent[code] = data  # a later assignment of the same code wins, as for any setting
    sub_options: tuple[tuple[int, bytes], ...] = view[s.SEND_VENDOR_OPTION]
    vendor = b"".join(bytes((code, len(data))) + data
                      for code, data in dict(sub_options).items())
    if vendor:
        sent[VENDOR_SPECIFIC] = vendor
    classes = b"".join(bytes((len(c),)) + c for c in view[s.USER_CLASS])
    if classes:
        sent[USER_CLASS] = classes
    return tuple(sorted(sent.items()))


def requested_options(built_in: tuple[int, ...], wanted: tuple[int, ...]) -> tuple[int, ...]:
    """The parameter request list: the built-in one, with RequestOptions= applied in the
    order assigned, so that a later CODE puts back what an earlier -CODE took out (say, an
    interface's file after leasebox.conf), and a later -CODE takes it out again."""
    removed: set[int] = set()
    extra: dict[int, None] = {}
    for code in wanted:
        if code < 0:
            removed.add(-code)
            extra.pop(-code, None)
        else:
            removed.discard(code)
            if code not in built_in:
                extra[code] = None
    return tuple(c for c in built_in if c not in removed) + tuple(extra)


def engine_config(view: View, system_hostname: str | None,
                  files: tuple[str, ...] = ()) -> EngineConfig:
    anonymize = view[s.ANONYMIZE]
    base = ClientConfig()
    fqdn_option: bytes | None = None
    sent: tuple[tuple[int, bytes], ...] = ()
    if anonymize:
        hostname, vendor, request = None, None, s.ANONYMIZE_REQUEST_OPTIONS
        client_id = ClientIdentifier.MAC
    else:
        hostname = None
        # SendHostname=no sends no name at all, as networkd's: a privacy drop-in need not
        # know of FQDN=
        fqdn: str | None = view[s.FQDN] if view[s.SEND_HOSTNAME] else None
        if fqdn is not None:  # option 81 instead of 12 (RFC 4702 3.1)
            update = view[s.FQDN_UPDATE]
            fqdn_option = client_fqdn(fqdn, server_updates=update is FQDNUpdate.BOTH,
                                      no_updates=update is FQDNUpdate.NONE)
        elif view[s.SEND_HOSTNAME]:
            hostname = view[s.HOSTNAME] or usable_hostname(system_hostname)
        vendor = view[s.VENDOR_CLASS_IDENTIFIER]
        request = requested_options(base.request_options, view[s.REQUEST_OPTIONS])
        sent = own_options(view)
        if not view[s.USE_CAPTIVE_PORTAL]:
            request = tuple(c for c in request if c != CAPTIVE_PORTAL_OPTION)
        client_id = view[s.CLIENT_IDENTIFIER]
    return EngineConfig(
        client=ClientConfig(
            hostname=hostname,
            vendor_class_id=vendor.encode("ascii") if vendor else None,
            request_options=request,
            rapid_commit=view[s.RAPID_COMMIT],
            ipv6_only_preferred=view[s.IPV6_ONLY_PREFERRED],
            arp_probe=view[s.ARP_PROBE],
            arp_probe_timing=view[s.ARP_PROBE_TIMING],
            send_release=view[s.SEND_RELEASE] is not SendRelease.NO,
            min_lease_time=view[s.MINIMUM_LEASE_TIME],
            request_broadcast=view[s.REQUEST_BROADCAST],
            client_fqdn=fqdn_option,
            send_options=sent,
            request_address=None if anonymize else view[s.REQUEST_ADDRESS],
        ),
        client_id=client_id,
        duid=view[s.DUID],
        iaid=view[s.IAID],
        keep_configuration=view[s.KEEP_CONFIGURATION],
        release_at_shutdown=view[s.SEND_RELEASE] is SendRelease.ALWAYS,
        use_captive_portal=view[s.USE_CAPTIVE_PORTAL] and not anonymize,
        fqdn=None if anonymize or not view[s.SEND_HOSTNAME] else view[s.FQDN],
        control_gid=view[s.CONTROL_GROUP],
        files=files,
        allow_servers=view[s.ALLOW_SERVERS],
        deny_servers=view[s.DENY_SERVERS],
    )


def sendable_problem(cfg: EngineConfig, interface: str) -> str | None:
    """Why the codec would refuse the messages these settings make, or why io could not
    send them, or None: the parser refuses each SendOption= the codec cannot send, but
    only the whole (more than its 32 options or 4096 octets, with SendVendorOption= and
    UserClass=) tells the rest, and the engine must say so at its start (check-config
    before it), not fail at its first DISCOVER. The largest messages it sends are a
    DISCOVER asking for an address and a REQUEST that selects an offer, with the client
    identifier (option 61, up to 137 octets with a DUID) that the MAC address completes
    later; io sends what fits a 1500-octet MTU."""
    # said in the settings' terms, not the codec's ("unknown: more than 4096 octets")
    extra = cfg.client.send_options  # SendOption=, SendVendorOption= and UserClass=
    if len(extra) > MAX_UNKNOWN_OPTIONS:
        return (f"{len(extra)} options from SendOption=, SendVendorOption= and UserClass=: "
                f"a message carries at most {MAX_UNKNOWN_OPTIONS}")
    total = sum(len(value) for _, value in extra)
    if total > MAX_BOOTP:
        return (f"these options hold {total} octets, more than the {MAX_BOOTP} octets a "
                "1500-octet MTU carries: send fewer or shorter ones")
    address = IPv4Address("192.0.2.1")  # any: only the size counts
    client = replace(cfg.client, client_id=clientid.client_identifier(
        cfg.client_id, bytes(6), interface, cfg.duid, cfg.iaid))
    try:
        sizes = [len(wire.encode(message)) for message in (
            requests.discover(client, 0, bytes(6), 0.0, address),
            requests.request_selecting(client, 0, bytes(6), 0.0, offered=address,
                                       server_id=address))]
    except wire.EncodeError as exc:
        return f"cannot send these options: {exc}"
    if max(sizes) > MAX_BOOTP:
        return (f"these options make a {max(sizes)}-octet message, more than the "
                f"{MAX_BOOTP} octets a 1500-octet MTU carries: send fewer or shorter ones")
    return None


# the settings that make the messages longer: a message too long is blamed on the last of
# them assigned
_MESSAGE_SETTINGS = (s.SEND_OPTION, s.SEND_VENDOR_OPTION, s.USER_CLASS, s.HOSTNAME, s.FQDN,
                     s.VENDOR_CLASS_IDENTIFIER, s.REQUEST_OPTIONS, s.CLIENT_IDENTIFIER, s.DUID)


def _last_assignment(config: Config) -> Source:
    def order(source: Source) -> tuple[int, int]:  # the command line comes after the files
        files = config.files
        return (files.index(source.path) if source.path in files else len(files),
                source.line)
    sources = [src for setting in _MESSAGE_SETTINGS for src in config.sources(setting)]
    if sources:
        return max(sources, key=order)
    return Source(config.files[-1] if config.files else "the configuration")


# an interface's own: in leasebox.conf, every interface has the same one
_PER_INTERFACE: tuple[tuple[Setting[Any], str], ...] = (
    (s.IAID, "IAID and, with DUID= set, the same client identifier: a server sees two "
             "interfaces of one network as one client"),
    (s.REQUEST_ADDRESS, "address asked for"))


def _per_interface_file(path: str) -> bool:
    """Whether `path` is an interface's own file: interfaces/IFACE.conf or a drop-in of it
    (in whichever configuration directory)."""
    folder = os.path.dirname(path)
    if folder.endswith(".conf.d"):
        folder = os.path.dirname(folder)
    return os.path.basename(folder) == INTERFACES


def shared_identity(config: Config) -> tuple[str, ...]:
    """A warning for each per-interface setting (IAID=, RequestAddress=) whose value comes
    from leasebox.conf or its drop-ins, not from the interface's own files."""
    if config[s.ANONYMIZE]:  # (neither is sent then)
        return ()
    found = []
    for setting, what in _PER_INTERFACE:
        if config[setting] is None:  # unset, or reset to that by an empty assignment
            continue
        if setting is s.IAID and (config[s.CLIENT_IDENTIFIER] is not ClientIdentifier.DUID
                                  or config[s.DUID] is None):
            continue  # not sent; or with each interface's own DUID-LL, not shared
        sources = [src for src in config.sources(setting) if src.path in config.files]
        if sources and not _per_interface_file(sources[-1].path):
            found.append(f"{sources[-1]}: {setting.name}= is set for every interface, which "
                         f"then all have the same {what}; set it in "
                         f"{INTERFACES}/IFACE.conf")
    return tuple(found)


def checked_engine_config(config: Config, interface: str,
                          system_hostname: str | None) -> EngineConfig:
    """What the engine on `interface` runs with, checked as a whole (sendable_problem), as
    the engine and `leaseboxctl check-config` both judge it. Raises ConfigError, at the
    last assignment among the settings that make the messages longer."""
    cfg = engine_config(config.view(Scope.ENGINE), system_hostname, config.files)
    problem = sendable_problem(cfg, interface)
    if problem is not None:
        blamed = _last_assignment(config)
        raise ConfigError(blamed.path, blamed.line, problem)
    return replace(cfg, warnings=shared_identity(config))
