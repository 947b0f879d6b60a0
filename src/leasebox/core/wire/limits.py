"""Sizes and bounds of the codec, in one place so decoder, encoder and tests agree.

Every bound here exists so that the work and memory spent on one hostile packet are a small,
fixed multiple of its length; the encoder enforces the same bounds, so everything it produces
decodes back unchanged.
"""

from __future__ import annotations

FIXED_HEADER_SIZE = 236  # op .. file, RFC 2131 figure 1
MIN_MESSAGE_SIZE = 240  # fixed header + magic cookie: the least a DHCP message can be
BOOTP_MIN_SIZE = 300  # RFC 1542 2.1: relays and old servers drop shorter BOOTP messages
MAX_MESSAGE_SIZE = 65507  # the largest UDP payload over IPv4 (65535 - 20 - 8)
MAX_HLEN = 16  # chaddr is 16 octets

SNAME_OFFSET, SNAME_SIZE = 44, 64
FILE_OFFSET, FILE_SIZE = 108, 128
OPTIONS_OFFSET = 240

# One option's data after RFC 3396 concatenation. Generous for any option leasebox reads
# (a full search list or route table is a few hundred octets), small enough to bound memory.
MAX_OPTION_DATA = 4096

# Options the codec does not know are kept as raw bytes for logging and the lease file; a
# server cannot make us keep more than this. The rest are listed in Message.dropped.
MAX_UNKNOWN_OPTIONS = 32
MAX_UNKNOWN_BYTES = 4096

# Option 119: how many names, and how many compression pointers one name may follow. A
# legitimate encoder needs one pointer per name (a chain at most one per label), so the
# cap only stops pointer chains that expand nothing.
MAX_SEARCH_NAMES = 64
MAX_POINTERS_PER_NAME = 127
MAX_NAME_WIRE_LENGTH = 255  # RFC 1035 3.1, counting length octets and the root label
MAX_NAME_LENGTH = 253  # the same limit as text without the length octets

MIN_MTU = 68  # RFC 791: every IPv4 host must handle 68-octet datagrams
MIN_MAX_MESSAGE_SIZE = 576  # RFC 2132 9.10
