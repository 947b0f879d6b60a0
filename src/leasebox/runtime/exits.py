"""Exit statuses every leasebox program uses, and what systemd does with them.

The units set RestartPreventExitStatus=78: a bad configuration or command line (EX_CONFIG,
sysexits.h) is not retried, every other failure is.
"""

EX_OK = 0
EX_FATAL = 1  # a broken peer, a lost interface: systemd restarts the service
EX_CONFIG = 78  # the configuration, the command line or the handed-in sockets are unusable
