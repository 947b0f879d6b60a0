"""leaseboxctl and the control protocol against hostile strings (issue: security
hardening, items 8 and "duplicate keys")."""

from __future__ import annotations

import pytest

from leasebox.ctl.commands import format_status, terminal_safe
from leasebox.ipc import control


def test_engine_strings_cannot_drive_the_terminal() -> None:
    hostile = "Bound\x1b[2J\x1b]0;pwned\x07 via\r\n\u202eevil\x00"
    text = format_status({"interface": "eth0", "state": "BOUND", "status": hostile,
                          "last_error": "\x9b31m"}, 0.0)
    assert not any(c in text for c in "\x1b\x07\r\x00\u202e\x9b")
    assert "\\x1b[2J" in text and "\\u202e" in text
    assert terminal_safe("plain ● text") == "plain ● text"


def test_duplicate_keys_in_a_control_request_are_refused() -> None:
    assert control.decode_request(b'{"command": "status"}').command is control.Command.STATUS
    with pytest.raises(control.ControlError, match="unique keys"):
        control.decode_request(b'{"command": "status", "command": "leave"}')
