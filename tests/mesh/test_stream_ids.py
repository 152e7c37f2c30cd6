"""Stream entry ids read as numbers, one way for every service."""

from __future__ import annotations

from mesh.streams import entry_id_ms, entry_id_parts, response_stream, text


def test_an_entry_id_is_its_time_and_sequence_in_redis_order() -> None:
    assert entry_id_parts(b"1700000000123-7") == (1700000000123, 7)
    assert entry_id_parts("5-0") == (5, 0)
    assert entry_id_ms(b"1700000000123-7") == 1700000000123
    # Numbers, not text: "10-0" sorts after "9-5", as Redis sorts them.
    assert sorted([b"10-0", b"9-5", b"9-10"], key=entry_id_parts) == [b"9-5", b"9-10", b"10-0"]


def test_text_and_the_answer_stream_name_take_bytes_or_str() -> None:
    assert text(b"gw-1") == "gw-1" == text("gw-1")
    assert response_stream(b"gw-1") == response_stream("gw-1") == "engine_response:gw-1"
