"""A sorted multiset of (level, position id) pairs, kept in chunks of machine-int arrays.

Why not sortedcontainers.SortedList of `level << 40 | id` ints: a list of int objects sends
every comparison of a bisect to a different place in a heap of millions of objects, and on a
large heap those cache and TLB misses cost more than the Python around them. Here levels and
ids live in `array('q')` chunks (contiguous 64-bit ints), so a bisect touches a few cache
lines, an entry costs 16 bytes instead of ~45, and a tick that crosses k entries cuts whole
chunks off one end.

Order is (level, id). Chunks are found by their last level, then, inside a run of equal
levels that spans chunks (many traders pick the same round take profit), by their last id:
ids are sorted within a run of equal levels, so every step is a bisect.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable

CHUNK = 1024
"""A chunk that grows past this splits in two."""


class LevelIndex:
    __slots__ = ("_ids", "_len", "_levels", "_max_ids", "_maxes")

    def __init__(self, pairs: Iterable[tuple[int, int]] = ()) -> None:
        self._levels: list[array[int]] = []
        self._ids: list[array[int]] = []
        self._maxes: array[int] = array("q")
        """The last (largest) level of each chunk..."""
        self._max_ids: array[int] = array("q")
        """... and the id beside it."""
        self._len = 0
        self.rebuild(pairs)

    def __len__(self) -> int:
        return self._len

    def rebuild(self, pairs: Iterable[tuple[int, int]]) -> None:
        ordered = sorted(pairs)
        starts = range(0, len(ordered), CHUNK // 2)
        self._levels = [array("q", (p[0] for p in ordered[i : i + CHUNK // 2])) for i in starts]
        self._ids = [array("q", (p[1] for p in ordered[i : i + CHUNK // 2])) for i in starts]
        self._maxes = array("q", (chunk[-1] for chunk in self._levels))
        self._max_ids = array("q", (chunk[-1] for chunk in self._ids))
        self._len = len(ordered)

    def min_level(self) -> int | None:
        return self._levels[0][0] if self._len else None

    def max_level(self) -> int | None:
        return self._maxes[-1] if self._len else None

    def add(self, level: int, pos_id: int) -> None:
        maxes = self._maxes
        if not maxes:
            self._levels.append(array("q", (level,)))
            self._ids.append(array("q", (pos_id,)))
            maxes.append(level)
            self._max_ids.append(pos_id)
            self._len = 1
            return
        # The first chunk whose last pair is > (level, pos_id), else the last chunk.
        k = bisect_right(maxes, level)
        if k and maxes[k - 1] == level:
            start = bisect_left(maxes, level, 0, k)
            k = bisect_right(self._max_ids, pos_id, start, k)
        if k == len(maxes):
            k -= 1
            maxes[k] = level
            self._max_ids[k] = pos_id
        levels, ids = self._levels[k], self._ids[k]
        at = bisect_right(levels, level)
        if at and levels[at - 1] == level:
            at = bisect_right(ids, pos_id, bisect_left(levels, level, 0, at), at)
        levels.insert(at, level)
        ids.insert(at, pos_id)
        self._len += 1
        if len(levels) > CHUNK:
            half = len(levels) // 2
            self._levels[k : k + 1] = [levels[:half], levels[half:]]
            self._ids[k : k + 1] = [ids[:half], ids[half:]]
            maxes.insert(k, levels[half - 1])
            self._max_ids.insert(k, ids[half - 1])

    def remove(self, level: int, pos_id: int) -> None:
        """Remove one pair; a missing pair raises KeyError (the caller's state is broken)."""
        maxes = self._maxes
        k = bisect_left(maxes, level)
        end = bisect_right(maxes, level, k)
        if end > k:
            k = bisect_left(self._max_ids, pos_id, k, end)
        if k < len(maxes):
            levels, ids = self._levels[k], self._ids[k]
            i = bisect_left(levels, level)
            j = bisect_right(levels, level, i)
            at = bisect_left(ids, pos_id, i, j)
            if at < j and ids[at] == pos_id:
                del levels[at], ids[at]
                self._len -= 1
                if not levels:
                    del self._levels[k], self._ids[k], maxes[k], self._max_ids[k]
                else:
                    maxes[k] = levels[-1]
                    self._max_ids[k] = ids[-1]
                return
        raise KeyError((level, pos_id))

    def pop_from(self, level: int) -> list[int]:
        """Remove every pair with a level >= `level`; their ids, highest pair first."""
        maxes = self._maxes
        k = bisect_left(maxes, level)
        if k == len(maxes):
            return []
        levels, ids = self._levels[k], self._ids[k]
        i = bisect_left(levels, level)
        taken = ids[i:].tolist()
        for chunk in self._ids[k + 1 :]:
            taken.extend(chunk.tolist())
        taken.reverse()
        del levels[i:], ids[i:]
        if levels:
            maxes[k] = levels[-1]
            self._max_ids[k] = ids[-1]
            k += 1
        del self._levels[k:], self._ids[k:], maxes[k:], self._max_ids[k:]
        self._len -= len(taken)
        return taken

    def pop_to(self, level: int) -> list[int]:
        """Remove every pair with a level <= `level`; their ids, lowest pair first."""
        maxes = self._maxes
        if not maxes or self._levels[0][0] > level:
            return []
        k = bisect_right(maxes, level)
        taken: list[int] = []
        for chunk in self._ids[:k]:
            taken.extend(chunk.tolist())
        if k < len(maxes):
            # This chunk ends above `level`, so it keeps its last pair and its max.
            levels, ids = self._levels[k], self._ids[k]
            j = bisect_right(levels, level)
            taken.extend(ids[:j].tolist())
            del levels[:j], ids[:j]
        del self._levels[:k], self._ids[:k], maxes[:k], self._max_ids[:k]
        self._len -= len(taken)
        return taken

    def pairs(self) -> list[tuple[int, int]]:
        """All pairs in order (for checks and tests)."""
        out: list[tuple[int, int]] = []
        for levels, ids in zip(self._levels, self._ids, strict=True):
            out.extend(zip(levels, ids, strict=True))
        return out
