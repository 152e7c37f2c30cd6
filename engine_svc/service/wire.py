"""Protobuf's wire format, for the few records the engine writes around bytes it already has
(an audit record around the command and its answer, an event around its trade)."""

from __future__ import annotations


def varint(value: int) -> bytes:
    """Base-128 varint; a negative int64 as its 64-bit two's complement, as protobuf does."""
    if value < 0:
        value += 1 << 64
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def int_field(number: int, value: int) -> bytes:
    """A varint field; proto3 leaves out a zero."""
    return b"%c%b" % (number << 3, varint(value)) if value else b""


def bytes_field(number: int, value: bytes) -> bytes:
    """A length-delimited field (string, bytes or message), always written."""
    return b"%c%b%b" % ((number << 3) | 2, varint(len(value)), value)
