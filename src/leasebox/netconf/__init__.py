"""leasebox-netconf: validates what the engine asks for and applies it to one interface.

main (start-up, loop), dispatch (netconf_dispatch_engine), policy (the INI policy file),
validate (Apply -> Plan or Refused; pure), apply (transactions and tracked state),
rtnl (pyroute2, imported lazily), state (tracked state kept across restarts),
dns (resolv.conf file), resolved + dbus (systemd-resolved over a minimal D-Bus client),
atomic (file replacement).
"""
