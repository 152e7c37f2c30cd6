"""Pausing the cyclic garbage collector around bulk work.

Creating many long-lived objects in a row (a restore, a tick that liquidates a hundred
thousand positions) trips the collector's thresholds again and again, and each full pass
walks the whole heap, millions of objects that are not garbage: it tripled the load time of
a snapshot and added a quarter to a mass liquidation. Nothing created in such a burst is
cyclic garbage, so the collector gets nothing by running during it. It is resumed, if it was
running, as soon as the burst ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BULK = 1_000
"""Below this many objects a pause costs more than it saves."""


@contextmanager
def collector_paused() -> Iterator[None]:
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()
