"""The leasebox-engine process: no capabilities, no network, AF_UNIX only.

The only process that decodes network data. It runs the pure state machine
(leasebox.core.machine) against CLOCK_BOOTTIME (see boottime.py), asks io to transmit
and netconf to apply, keeps the lease file and its live state (a memfd in the service
manager's FDSTORE).
"""
