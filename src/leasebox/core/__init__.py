"""The pure cores: the DHCP codec (wire) and the RFC 2131 state machine (machine), and the
rules they share with the contract (names). No I/O: the clock and randomness are passed in;
tests/test_imports.py and import-linter check it."""
