"""What `exchange up` runs: LEDGER_WORKERS ledgers, each its own consumer, metrics port and
name in the log."""

from __future__ import annotations

import logging

import pytest

from gateway_svc.ledger import main as ledger_main
from launcher.cli import children_of
from mesh.config import ConfigError, load_settings


def test_each_ledger_has_its_own_consumer_and_metrics_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_WORKERS", "3")
    monkeypatch.setenv("LEDGER_METRICS_PORT", "9300")
    plan = children_of(load_settings(need_secrets=False), {"LEDGER_CONSUMER": "ledger-a"})
    assert [name for name, _, _ in plan] == [
        "engine",
        "ledger-1",
        "ledger-2",
        "ledger-3",
        "poller",
        "gateway",
    ]
    ledgers = [own for _, service, own in plan if service == "ledger"]
    assert [own["LEDGER_CONSUMER"] for own in ledgers] == ["ledger-a", "ledger-a-2", "ledger-a-3"]
    assert [own["LEDGER_METRICS_PORT"] for own in ledgers] == ["9300", "9301", "9302"]


def test_one_ledger_keeps_the_plain_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_WORKERS", "1")
    monkeypatch.setenv("LEDGER_METRICS_PORT", "0")
    plan = children_of(load_settings(need_secrets=False), {"LEDGER_CONSUMER": "ledger-a"})
    assert plan[1] == ("ledger", "ledger", {"LEDGER_CONSUMER": "ledger-a"})


def test_each_ledger_logs_under_its_own_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two ledgers run the same code: their lines differ by the process's name in them."""
    monkeypatch.setenv("LEDGER_WORKERS", "2")
    plan = children_of(load_settings(need_secrets=False), {"LEDGER_CONSUMER": "ledger-a"})

    async def wrote_a_line() -> None:  # in place of the writers: the setup is what is tested
        logging.getLogger("gateway_svc.ledger.persister").warning("a batch failed")

    monkeypatch.setattr(ledger_main, "_main", wrote_a_line)
    lines = []
    for _, service, own in plan:
        if service != "ledger":
            continue
        with monkeypatch.context() as env:
            for key, value in own.items():
                env.setenv(key, value)
            assert ledger_main.main() == 0
        lines += [line for line in capsys.readouterr().err.splitlines() if "a batch failed" in line]
    assert [line.split(" WARNING ")[0].split()[-1] for line in lines] == ["ledger-a", "ledger-a-2"]


@pytest.mark.parametrize(
    ("settings", "clash"),
    [
        # Two ledgers from 9100: the second's metrics land on the engine's default 9101.
        ({"ENGINE_METRICS_PORT": "9101", "LEDGER_METRICS_PORT": "9100", "LEDGER_WORKERS": "2"},
         "ENGINE_METRICS_PORT and LEDGER_METRICS_PORT + 1 (ledger 2 of LEDGER_WORKERS) are "
         "both port 9101: give each its own"),
        ({"HTTP_PORT": "50051", "GRPC_PORT": "50051"},
         "HTTP_PORT and GRPC_PORT are both port 50051: give each its own"),
        # The second ledger's port would be 65536, which the kernel takes modulo 65536.
        ({"LEDGER_METRICS_PORT": "65535", "LEDGER_WORKERS": "2"},
         "LEDGER_METRICS_PORT + 1 (ledger 2 of LEDGER_WORKERS) is port 65536, past 65535: "
         "lower LEDGER_METRICS_PORT"),
    ],
)  # fmt: skip
def test_ports_that_clash_or_overflow_are_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], clash: str
) -> None:
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as refused:
        children_of(load_settings(need_secrets=False), {})
    assert str(refused.value) == clash


def test_ports_left_to_the_system_never_clash(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("HTTP_PORT", "GRPC_PORT", "ENGINE_METRICS_PORT", "LEDGER_METRICS_PORT"):
        monkeypatch.setenv(key, "0")
    assert len(children_of(load_settings(need_secrets=False), {})) == 5
