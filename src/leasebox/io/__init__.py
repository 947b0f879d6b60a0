"""leasebox-io: the per-interface process that owns the wire (start-up in main.py).

Invocation: `leasebox-io IFACE [--engine-socket PATH] [--debug]`.

Inherited fds, by name (LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID):
  udp     UDP 0.0.0.0:68 bound to IFACE, SO_BROADCAST (required)
  rtnl    NETLINK_ROUTE subscribed to RTMGRP_LINK (optional: io opens one itself)
  engine  connected SOCK_SEQPACKET to the engine (optional: else io connects to
          --engine-socket, default /run/leasebox-ipc/IFACE/engine.sock)
  packet  the DHCP packet socket from the FDSTORE (optional: else opened and stored)
  arp     the ARP packet socket from the FDSTORE (optional: else opened and stored)
Opening the packet sockets needs CAP_NET_RAW; io then drops every capability.

Environment: NOTIFY_SOCKET (FDSTORE=1, READY=1, STATUS=, WATCHDOG=1), WATCHDOG_USEC.

Exit codes: 0 engine closed its socket, SIGTERM, or the interface was removed;
2 bad argv; 71 a socket or capability operation failed; 76 the engine broke the
contract; 78 unusable interface or inherited fds; 1 anything unexpected.
"""
