"""The engine's live state, kept in a memfd that the service manager holds (FDSTORE).

A restarted or upgraded engine gets the memfd back in LISTEN_FDS (name "state") and resumes
where the old one stopped, with no DHCP exchange and no address flap. The content is the
state machine's own bounded snapshot, which Client.restore treats as untrusted.
"""

from __future__ import annotations

import os

from leasebox.runtime import sd

FDNAME = "state"
MAX_SIZE = 65536


class LiveState:
    def __init__(self, fd: int | None) -> None:
        self.inherited = fd is not None
        if fd is None:
            fd = os.memfd_create("leasebox-state", os.MFD_CLOEXEC)
            self.stored = sd.store_fd(fd, FDNAME, replace=False)  # none was handed in
        else:
            self.stored = True
        self.fd = fd
        self._last = b""
        self.retired = False

    def read(self) -> bytes:
        size = os.fstat(self.fd).st_size
        if not 0 < size <= MAX_SIZE:
            return b""
        return os.pread(self.fd, size, 0)

    def write(self, data: bytes) -> None:
        if data == self._last or self.retired:
            return
        if len(data) > MAX_SIZE:
            raise ValueError("snapshot too large")
        # Truncate first: a crash between the calls leaves an empty or short snapshot,
        # which restore rejects, and the engine falls back to the lease file.
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)
        self._last = data

    def clear(self) -> None:
        os.ftruncate(self.fd, 0)
        self._last = b""

    def retire(self) -> None:
        """The engine has left the link (the target stops): nothing it does until it exits
        is state to resume, and the next start, restart of the target included (whose
        stop keeps the FDSTORE), begins anew from the lease file. So a kept snapshot is of
        an engine that did not leave: STOPPED in one is an operator's release."""
        self.clear()
        self.retired = True

    def resume(self) -> None:
        """An operator's renew after a leave (`leaseboxctl leave`, then `renew`): the engine
        is on the link again, and what it does is state to resume once more."""
        self.retired = False
