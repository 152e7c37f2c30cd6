"""What `exchange up` runs: LEDGER_WORKERS ledgers, each its own consumer and metrics port."""

from __future__ import annotations

import pytest

from launcher.cli import children_of
from mesh.config import load_settings


def test_each_ledger_has_its_own_consumer_and_metrics_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_WORKERS", "3")
    monkeypatch.setenv("LEDGER_METRICS_PORT", "9300")
    plan = children_of(load_settings(need_secrets=False), {"LEDGER_CONSUMER": "ledger-a"})
    assert [name for name, _, _ in plan] == [
        "engine", "ledger-1", "ledger-2", "ledger-3", "poller", "gateway"
    ]
    ledgers = [own for _, service, own in plan if service == "ledger"]
    assert [own["LEDGER_CONSUMER"] for own in ledgers] == ["ledger-a", "ledger-a-2", "ledger-a-3"]
    assert [own["LEDGER_METRICS_PORT"] for own in ledgers] == ["9300", "9301", "9302"]


def test_one_ledger_keeps_the_plain_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_WORKERS", "1")
    monkeypatch.setenv("LEDGER_METRICS_PORT", "0")
    plan = children_of(load_settings(need_secrets=False), {"LEDGER_CONSUMER": "ledger-a"})
    assert plan[1] == ("ledger", "ledger", {"LEDGER_CONSUMER": "ledger-a"})
