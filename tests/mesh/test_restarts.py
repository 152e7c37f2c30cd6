"""The one restart schedule (mesh.restarts), which `exchange up` and the gateway's parent
both follow: 1, 2, 4 ... 30 s for crashes in a row, from the start again after a stable run."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_svc.workers import Workers
from mesh.restarts import (
    MAX_DELAY_S,
    STABLE_S,
    RestartBackoff,
    RestartSchedule,
    restart_delay_s,
)


def test_crashes_in_a_row_double_the_wait_up_to_the_cap() -> None:
    waits = [restart_delay_s(n) for n in range(1, 9)]
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]
    assert restart_delay_s(10_000) == MAX_DELAY_S  # no overflow however long it keeps dying


def test_there_is_no_zeroth_crash() -> None:
    with pytest.raises(ValueError, match="crashes_in_a_row must be at least 1, got 0"):
        restart_delay_s(0)


def test_a_process_that_keeps_dying_climbs_and_a_stable_run_starts_over() -> None:
    backoff = RestartBackoff()
    now, waits = 0.0, []
    for _ in range(4):  # each dies a few seconds after its start
        backoff.started(now)
        now += 3
        wait = backoff.crashed(now)
        waits.append(wait)
        now += wait
    assert waits == [1, 2, 4, 8]

    backoff.started(now)
    assert backoff.crashed(now + STABLE_S - 0.1) == 16  # not quite stable: still climbing
    backoff.started(now)
    assert backoff.crashed(now + STABLE_S) == 1  # ran long enough: a first crash again
    assert backoff.crashes_in_a_row == 1


def test_a_crash_before_any_start_is_a_first_crash() -> None:
    assert RestartBackoff().crashed(123.0) == 1


class Child:
    """A stand-in worker process: running until `code` is set."""

    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


def test_the_gateways_workers_restart_on_the_same_schedule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workers = Workers(1, "/nonexistent")
    now = [0.0]

    def start(index: int) -> None:
        workers.children[index] = Child()  # type: ignore[assignment]
        workers.restarts.started(index, now[0])

    monkeypatch.setattr(workers, "start", start)
    start(0)
    waits: list[Any] = []
    for _ in range(3):  # each dies a few seconds after its start
        now[0] += 3
        workers.children[0].code = 1  # type: ignore[attr-defined]
        workers.check(now[0])
        waits.append(workers.restarts.due[0] - now[0])
        now[0] = workers.restarts.due[0]
        workers.check(now[0])  # the restart
    assert waits == [1, 2, 4]


def test_a_schedule_hands_back_each_process_once_when_its_restart_is_due() -> None:
    schedule: RestartSchedule[str] = RestartSchedule()
    for name in ("engine", "poller"):
        schedule.started(name, 0.0)
    assert schedule.crashed("engine", 5.0) == 1
    assert schedule.crashed("poller", 5.5) == 1
    assert schedule.waiting("engine") and schedule.waiting("poller")
    assert schedule.take_due(5.9) == []  # neither is due yet
    assert schedule.take_due(6.0) == ["engine"]
    assert not schedule.waiting("engine") and schedule.waiting("poller")
    assert schedule.take_due(6.0) == []  # handed back once
    assert schedule.take_due(7.0) == ["poller"]
    schedule.started("engine", 6.0)
    assert schedule.crashed("engine", 7.0) == 2  # its second crash in a row
    schedule.started("engine", 9.0)
    assert schedule.crashed("engine", 9.0 + STABLE_S) == 1  # a stable run: a first crash
