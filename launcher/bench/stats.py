"""Percentiles of one run, and the median and spread of a figure over repeated runs.

A VM's speed moves from one second to the next, so each figure is measured several times in
the same run of the bench and reported as the median with the lowest and highest value.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN when there are none."""
    if not ordered:
        return float("nan")
    rank = math.ceil(fraction * len(ordered))
    return float(ordered[min(len(ordered), max(rank, 1)) - 1])


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread | None:
        values = [v for v in samples if not math.isnan(v)]
        if not values:
            return None
        return cls(statistics.median(values), min(values), max(values), len(values))
