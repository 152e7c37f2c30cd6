"""The periodic stats line: every 10 s while the work moves, every 5 minutes while it does not
(time is the caller's: no clock is read here)."""

from __future__ import annotations

import pytest

from mesh.stats_lines import IDLE_STATS_EVERY_S, STATS_EVERY_S, StatsLines

# (seconds since the last line, work then (it was 0 at the last line), due)
CASES = [
    (STATS_EVERY_S - 1, 5, False),  # work moved, but too soon
    (STATS_EVERY_S, 5, True),  # work moved: every 10 s
    (STATS_EVERY_S, 0, False),  # idle: not every 10 s
    (IDLE_STATS_EVERY_S - 1, 0, False),
    (IDLE_STATS_EVERY_S, 0, True),  # idle: now and then, to say it lives
]


@pytest.mark.parametrize(("since", "work", "due"), CASES)
def test_a_line_is_due_when_work_moved_or_after_a_long_quiet(
    since: float, work: int, due: bool
) -> None:
    assert StatsLines(1000.0, 0).due(1000.0 + since, work) is due


def test_the_next_line_counts_from_the_last_one_and_its_work() -> None:
    stats = StatsLines(0.0, (0, 0))
    assert stats.due(10.0, (3, 1))  # busy
    assert not stats.due(15.0, (4, 1))  # busy, but 5 s after the last line
    assert stats.due(20.0, (4, 1))
    assert not stats.due(30.0, (4, 1))  # idle since: quiet
    assert not stats.due(319.0, (4, 1))
    assert stats.due(320.0, (4, 1))
    assert stats.due(330.0, (5, 1))  # busy again: at once every 10 s
