"""runtime.log: library noise stays out of the journal whatever the library does to its
own logger's level."""

from __future__ import annotations

import logging

from leasebox.runtime.log import quiet_libraries


def _record(name: str, level: int) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, "text", None, None)


def test_pyroute2_below_error_is_dropped_and_ours_kept() -> None:
    assert not quiet_libraries(_record("pyroute2.netlink.rtnl.tcmsg.common", logging.WARNING))
    assert not quiet_libraries(_record("pyroute2", logging.INFO))
    assert quiet_libraries(_record("pyroute2.iproute", logging.ERROR))
    assert quiet_libraries(_record("leasebox.netconf", logging.DEBUG))
    assert quiet_libraries(_record("leasebox.engine", logging.WARNING))
