"""Real exchanges between leasebox (three processes under leasebox-launch) and dnsmasq,
across a veth pair between two network namespaces. Checked with `ip`, files and dnsmasq's
own log and lease file."""

from __future__ import annotations

import socket
import time

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from leasebox.ctl import commands
from leasebox.ipc import control
from tests.integration.netlab import CLIENT_MAC, SERVER_IP, Dnsmasq, Lab, Leasebox
from tests.io.iolab import in_netns
from tests.waiting import wait_for

FULL_OPTIONS = (
    "--dhcp-option=option:dns-server,192.0.2.53,192.0.2.54",
    "--dhcp-option=option:domain-name,example.test",
    "--dhcp-option=option:domain-search,example.test,corp.example.test",
    "--dhcp-option=option:mtu,1400",
    "--dhcp-option=option:classless-static-route,198.51.100.0/24,192.0.2.254,"
    "0.0.0.0/0,192.0.2.1",
)
FAST_TIMERS = ("--dhcp-option=option:T1,4", "--dhcp-option=option:T2,7")


def test_cold_lease_applies_everything(lab: Lab) -> None:
    Dnsmasq(lab, *FULL_OPTIONS).start()
    box = Leasebox(lab).start()
    addr = lab.wait_address()
    assert addr["prefixlen"] == 24
    assert addr["local"].startswith("192.0.2.")
    # lifetimes equal the remaining lease: dnsmasq's 2 minutes, counting down
    assert 100 <= addr["valid_life_time"] <= 120
    assert 100 <= addr["preferred_life_time"] <= 120
    routes = lab.routes()
    # option 121 wins over option 3 (RFC 3442): its default route and its /24
    default = [r for r in routes if r["dst"] == "default"]
    assert len(default) == 1 and default[0]["gateway"] == SERVER_IP
    assert default[0]["protocol"] == "dhcp"
    assert any(r["dst"] == "198.51.100.0/24" and r["gateway"] == "192.0.2.254" for r in routes)
    assert lab.mtu() == 1400
    resolv = wait_for("resolv.conf", lambda: _read(box.rundir / "dns" / "veth0.conf"), 5)
    assert "nameserver 192.0.2.53" in resolv and "nameserver 192.0.2.54" in resolv
    assert "example.test" in resolv and "corp.example.test" in resolv
    wait_for("the STATUS line", lambda: box.status().startswith("Bound "), 5)
    assert f"{addr['local']}/24 via {SERVER_IP}" in box.status()


def test_release_on_stop_removes_everything(lab: Lab) -> None:
    dns = Dnsmasq(lab, *FULL_OPTIONS).start()
    box = Leasebox(lab).start()
    addr = lab.wait_address()
    box.wait_bound()
    wait_for("the lease in dnsmasq's file", lambda: addr["local"] in dns.leases(), 5)
    assert box.stop() == 0
    assert lab.address() is None
    assert not [r for r in lab.routes() if r.get("protocol") == "dhcp"]
    assert lab.mtu() == 1500
    assert not (box.rundir / "dns" / "veth0.conf").exists()
    wait_for("DHCPRELEASE at dnsmasq", lambda: dns.count("DHCPRELEASE") == 1, 5)
    wait_for("the lease gone from dnsmasq's file", lambda: addr["local"] not in dns.leases(), 5)
    # the engine's last line does not say it kept the lease it had just given back
    assert "stopping; no lease held (released or never bound), and live state kept" in \
        box.log()


def test_renewal_at_t1_is_unicast(lab: Lab) -> None:
    dns = Dnsmasq(lab, *FAST_TIMERS).start()
    capture = lab.tmp / "tcpdump.log"
    cap = lab.spawn(lab.server, ["tcpdump", "-i", "veth1", "-n", "-l", "--immediate-mode",
                                 "udp port 67"], capture)
    wait_for("tcpdump", lambda: "listening" in capture.read_text(), 10)
    box = Leasebox(lab).start()
    addr = lab.wait_address()
    bound_at, lifetime = time.monotonic(), addr["valid_life_time"]
    assert dns.count("DHCPDISCOVER") == 1
    wait_for("a renewal", lambda: dns.count("DHCPACK") >= 2, 10)
    wait_for("BOUND again", lambda: box.status().startswith("Bound "), 5)
    assert dns.count("DHCPDISCOVER") == 1
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]
    # refreshed by the renewal: more left than the first lease's lifetime less the wait
    assert again["valid_life_time"] > lifetime - (time.monotonic() - bound_at) + 2, again
    # the renewal's REQUEST is unicast from the leased address to the server (RFC 2131
    # 4.4.5), where the first exchange was broadcast from 0.0.0.0
    unicast = f"IP {addr['local']}.68 > {SERVER_IP}.67:"
    wait_for("the renewal on the wire", lambda: unicast in capture.read_text(), 5)
    lab.stop(cap)
    assert "IP 0.0.0.0.68 > 255.255.255.255.67:" in capture.read_text()


def test_rebinding_when_the_server_is_gone_at_t1(lab: Lab) -> None:
    dns = Dnsmasq(lab, *FAST_TIMERS).start()
    box = Leasebox(lab).start()
    addr = lab.wait_address()
    dns.stop()
    wait_for("RENEWING", lambda: "Renewing" in box.status(), 8)
    dns.start()  # back before T2: the unicast retransmission is not due before T2
    wait_for("REBINDING and rebound", lambda: "Rebound" in box.log(), 10)
    assert dns.count("DHCPDISCOVER") == 1
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]


def test_nak_on_renewal_after_the_server_forgets(lab: Lab) -> None:
    dns = Dnsmasq(lab, *FAST_TIMERS).start()
    Leasebox(lab).start()
    addr = lab.wait_address()
    dns.stop()
    dns.leasefile.unlink()
    # the server comes back serving another range: the client's address is no longer its
    # to give, and being authoritative it says so (DHCPNAK)
    dns2 = Dnsmasq(lab, *FAST_TIMERS, range_="192.0.2.200,192.0.2.220")
    dns2.logfile = lab.tmp / "dnsmasq2.log"
    dns2.start()
    wait_for("a DHCPNAK", lambda: dns2.count("DHCPNAK") >= 1, 12)
    new = lab.wait_address(timeout=15, not_=addr["local"])
    assert new["local"].startswith("192.0.2.2")
    assert len(lab.addresses()) == 1  # the old one is gone


def test_init_reboot_from_the_lease_file(lab: Lab) -> None:
    dns = Dnsmasq(lab).start()
    box = Leasebox(lab, "--no-release").start()
    addr = lab.wait_address()
    box.wait_bound()
    assert box.stop() == 0
    assert (box.statedir / "lease").exists()
    lab.ip(lab.client, "addr", "flush", "dev", "veth0")  # as after a reboot
    # what a power loss during a write of the lease file leaves: removed at the start
    cut_short = box.statedir / ".lease.0123456789ab"
    cut_short.write_text("{")
    discovers = dns.count("DHCPDISCOVER")
    Leasebox(lab).start()
    again = lab.wait_address()
    assert again["local"] == addr["local"]
    assert not cut_short.exists()
    assert dns.count("DHCPDISCOVER") == discovers  # INIT-REBOOT: REQUEST only
    assert dns.count("DHCPREQUEST") >= 2


def test_a_server_silent_to_init_reboot_costs_seconds(lab: Lab) -> None:
    """Another network with the same subnet (192.168.1.0/24 at home and at work): its
    server does not know the remembered lease and, not authoritative (dnsmasq's default),
    does not answer the INIT-REBOOT at all. The client asks with DISCOVER ~5 s on, for the
    same address, as dhcpcd does (RFC 2131's 4 s and 8 s waits took 10-14 s)."""
    dns = Dnsmasq(lab).start()
    box = Leasebox(lab, "--no-release").start()
    addr = lab.wait_address()
    box.wait_bound()
    assert box.stop() == 0
    lab.ip(lab.client, "addr", "flush", "dev", "veth0")  # as after a reboot
    dns.stop()
    dns.leasefile.unlink()
    other = Dnsmasq(lab, authoritative=False)
    other.logfile = lab.tmp / "dnsmasq-other.log"
    other.start()
    started = time.monotonic()
    Leasebox(lab).start()
    again = lab.wait_address(timeout=20)
    took = time.monotonic() - started
    assert again["local"] == addr["local"]  # asked for in the DISCOVER
    assert other.count("DHCPNAK") == 0 and other.count("DHCPDISCOVER") == 1
    assert took < 9, f"{took:.1f} s to a lease"
    print(f"silent server: leased {took:.1f} s after the start")


def test_carrier_down_up_does_a_reboot_exchange(lab: Lab) -> None:
    dns = Dnsmasq(lab).start()
    box = Leasebox(lab).start()
    addr = lab.wait_address()
    requests = dns.count("DHCPREQUEST")
    lab.ip(lab.server, "link", "set", "veth1", "down")
    wait_for("no carrier", lambda: "carrier" in box.status().lower(), 5)
    time.sleep(0.2)
    lab.ip(lab.server, "link", "set", "veth1", "up")
    wait_for("a reboot REQUEST", lambda: dns.count("DHCPREQUEST") > requests, 10)
    wait_for("BOUND again", lambda: box.status().startswith("Bound "), 10)
    assert dns.count("DHCPDISCOVER") == 1
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]


def test_arp_conflict_declines_and_takes_another_address(lab: Lab) -> None:
    # dnsmasq offers .77 to our MAC first; another host (the server namespace itself) has
    # it, so the ARP probe sees a conflict: DECLINE, and dnsmasq offers from its range.
    # RequestBroadcast=yes: a reply sent to .77 would stay in the server's namespace,
    # which has it.
    lab.ip(lab.server, "addr", "add", "192.0.2.77/32", "dev", "veth1")
    dns = Dnsmasq(lab, f"--dhcp-host={CLIENT_MAC},192.0.2.77").start()
    box = Leasebox(lab, "--arp-probe", "--request-broadcast").start()
    addr = lab.wait_address(timeout=25)
    assert addr["local"] != "192.0.2.77"
    assert dns.count("DHCPDECLINE") == 1
    assert "Declined 192.0.2.77" in box.log()


INTRUDER_MAC = "02:00:5e:10:00:99"


def _server_socket(lab: Lab) -> socket.socket:
    """A packet socket on the server's end of the link: a second host on the segment."""
    sock = in_netns(lab.server, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                                      socket.htons(0x0003)))
    sock.bind(("veth1", 0x0003))
    return sock


def _announcements(sock: socket.socket, address: str, seconds: float) -> list[float]:
    """When the client announced `address` (RFC 5227 ARP announcements) within `seconds`."""
    seen: list[float] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            frame, where = sock.recvfrom(2048)
        except TimeoutError:
            break
        if where[2] == 4 or frame[12:14] != b"\x08\x06":  # 4: sent from here
            continue
        a = Ether(frame)[ARP]
        if a.op == 1 and a.hwsrc == CLIENT_MAC and a.psrc == a.pdst == address:
            seen.append(time.monotonic())
    return seen


def test_arp_announce_defend_then_decline(lab: Lab) -> None:
    # RFC 5227 end to end, with its own probe timing: probed (4-7 s), announced twice, and
    # watched. A second host claims the address: defended once; claimed again within 10 s:
    # DECLINE, and a new lease with another address.
    dns = Dnsmasq(lab).start()
    sock = _server_socket(lab)
    started = time.monotonic()
    box = Leasebox(lab, "--arp-probe", "--arp-probe-timing", "rfc5227").start()
    addr = lab.wait_address(timeout=25)
    ours = addr["local"]
    assert time.monotonic() - started >= 4.0  # the RFC's probe, not the fast one
    announced = _announcements(sock, ours, 3.5)
    assert len(announced) == 2 and 1.8 <= announced[1] - announced[0] <= 2.5, announced
    box.wait_bound()

    claim = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=INTRUDER_MAC) /
                  ARP(op=1, hwsrc=INTRUDER_MAC, psrc=ours, pdst=SERVER_IP))
    sock.send(claim)
    assert len(_announcements(sock, ours, 1.5)) == 1  # defended at once
    wait_for("the defence in the log", lambda: f"another host uses {ours}" in box.log(), 5)
    assert lab.address() is not None and lab.address()["local"] == ours  # type: ignore[index]
    assert dns.count("DHCPDECLINE") == 0

    sock.send(claim)  # within 10 s of the first: the other host insists
    wait_for("DHCPDECLINE at dnsmasq", lambda: dns.count("DHCPDECLINE") == 1, 5)
    assert f"Declined {ours}" in box.log()
    new = lab.wait_address(timeout=30, not_=ours)
    assert new["local"] != ours
    assert len(lab.addresses()) == 1
    sock.close()


def _read(path: object) -> str:
    from pathlib import Path

    p = Path(str(path))
    return p.read_text() if p.exists() else ""


def test_a_server_id_configured_in_dnsmasq_sent_twice_still_gives_a_lease(lab: Lab) -> None:
    """dnsmasq with dhcp-option=54 (set by admins behind NAT or with several addresses)
    sends option 54 itself and again as configured, since the client asks for it: the
    same four octets twice, one server identifier (see core/wire/options.py)."""
    dns = Dnsmasq(lab, f"--dhcp-option=54,{SERVER_IP}").start()
    box = Leasebox(lab).start()
    addr = lab.wait_address()
    box.wait_bound()
    assert dns.count("DHCPACK") == 1
    assert f"{addr['local']}/24 via {SERVER_IP}" in box.status()


def test_a_malformed_option_is_left_out_and_said(lab: Lab) -> None:
    """dnsmasq sends an option 15 that is no RFC 1123 name (an underscore, as some
    Windows domains have): the lease is taken without it, and the engine says which option
    it left out and why, where the status alone would read as "none sent"."""
    Dnsmasq(lab, "--dhcp-option=option:domain-name,corp_lan.example").start()
    box = Leasebox(lab).start()
    lab.wait_address()
    box.wait_bound()
    said = [line for line in box.log().splitlines() if "left out of the lease" in line]
    assert len(said) == 1, box.log()
    assert said[0].endswith("lease: option 15 (domain name): not an RFC 1123 name "
                            "(letters, digits, inner hyphens, dot-separated labels)")
    status = commands.request(box.rundir, "veth0", control.Command.STATUS)
    assert status["lease"]["domain_name"] is None


def test_the_hostname_dnsmasq_knows_the_host_by_is_asked_for_and_shown(lab: Lab) -> None:
    """dnsmasq sends option 12 (the name of a dhcp-host line) only to a client that asks
    for it in option 55, as systemd-networkd's does: leasebox asks, and shows it."""
    Dnsmasq(lab, f"--dhcp-host={CLIENT_MAC},vm7").start()
    box = Leasebox(lab).start()
    lab.wait_address()
    box.wait_bound()
    status = commands.request(box.rundir, "veth0", control.Command.STATUS)
    assert status["lease"]["hostname"] == "vm7"
    assert "     Hostname: vm7" in commands.format_status(status, time.time())


def test_a_first_router_off_the_link_is_skipped_not_the_lease(lab: Lab) -> None:
    """dnsmasq configured with a router outside the subnet first: the lease was refused
    ("gateway is not on the link"), its address avoided, and the link stayed without an
    address while the server kept offering it. The next router, on the link, is used."""
    Dnsmasq(lab, f"--dhcp-option=option:router,198.51.100.9,{SERVER_IP}").start()
    box = Leasebox(lab).start()
    lab.wait_address()
    default = [r for r in lab.routes() if r["dst"] == "default"]
    assert [r["gateway"] for r in default] == [SERVER_IP]
    box.wait_bound()
    skipped = "router skipped: gateway 198.51.100.9 is not on the link"
    assert skipped in box.log()
    # and leaseboxctl status says so, with the lease it belongs to
    status = commands.request(box.rundir, "veth0", control.Command.STATUS)
    assert status["netconf_notes"].startswith(skipped)
    assert f"  Not applied: {skipped}" in commands.format_status(status, time.time())


def test_another_client_with_our_mac_address_is_noticed(lab: Lab) -> None:
    """A second DHCP client on the interface, as a dhclient left running by ifupdown would
    be: a DISCOVER with leasebox's MAC address from the client's namespace. dnsmasq answers
    it, leasebox says so once (leasebox(8), COEXISTENCE), and keeps its lease."""
    Dnsmasq(lab).start()
    box = Leasebox(lab).start()
    box.wait_bound()
    sock = in_netns(lab.client, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                                      socket.htons(0x0003)))
    with sock:
        sock.bind(("veth0", 0x0003))
        mac = bytes.fromhex(CLIENT_MAC.replace(":", ""))
        discover = (Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff")
                    / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
                    / BOOTP(chaddr=mac, xid=0x5EED0001)
                    / DHCP(options=[("message-type", "discover"), "end"]))
        sock.send(bytes(discover))
        wait_for("leasebox to notice", lambda: "another DHCP client may manage" in box.log(),
                 10)
        sock.send(bytes(discover))  # said once an hour, not once an answer
        time.sleep(1)
    assert box.log().count("another DHCP client may manage") == 1
    assert "(xid 5eed0001)" in box.log()
    assert box.status().startswith("Bound ")
