"""Trailing stops of one asset and side, grouped so a new high does not touch each of them.

A LONG trailing stop is `max(bid since it was set) - D`. Every stop set before the bid's
running maximum was last raised has that same maximum: stops that share a running extreme
move together. So the stops live in groups, one per distinct extreme, each group a sorted
index of its distances D; a stop's value is computed when it is needed, never stored:

- a tick whose bid rises above some groups' extremes raises them all to the bid, which makes
  them equal: they merge into one, so a new high costs O(log n) for the one or few groups it
  raises, whatever the number of stops in them. A merge moves the smaller groups' (D, id)
  pairs into the largest (one add each, or `absorb`, in C, when they are many) and
  points each merged group at the one it joined (union-find), so no position is touched;
- a group's highest stop is `extreme - min(D)`; groups are indexed by it, so a tick finds the
  groups it fires in O(log n), and in each one the fired stops are a prefix of its sorted D's
  (those with `D <= extreme - bid`): O(log n + k) in all.

A SHORT stop (`min(ask since set) + D`, fires when `ask >= stop`) is the same thing on the
negated price, so one class serves both: the SHORT side is fed `-ask` and reports `-stop`.
"""

from __future__ import annotations

from engine_svc.core._native import LevelIndex
from engine_svc.core.model import InvariantError, Position


class TrailGroup:
    __slots__ = ("extreme", "gid", "parent", "stops")

    def __init__(self, gid: int, extreme: int) -> None:
        self.gid = gid
        self.parent: TrailGroup | None = None
        """The group it was merged into; its own fields are stale then."""
        self.extreme = extreme
        """The running maximum of the (signed) close-side price since its stops were set."""
        self.stops = LevelIndex()
        """(D, pos_id) of its stops."""

    def top(self) -> int:
        """Its highest stop (signed)."""
        smallest = self.stops.min_level()
        assert smallest is not None
        return self.extreme - smallest


def live_group(pos: Position) -> TrailGroup:
    """The group a position's live trailing stop follows now (after any merges)."""
    ext = pos.ext
    assert ext is not None and ext.trail is not None
    group = ext.trail
    if group.parent is None:
        return group
    top = group.parent
    while top.parent is not None:
        top = top.parent
    while group.parent is not None and group.parent is not top:  # path compression
        group.parent, group = top, group.parent
    ext.trail = top
    return top


class TrailSide:
    """The trailing stops of one asset and side; `sign` is 1 for LONG, -1 for SHORT."""

    __slots__ = ("at_extreme", "by_extreme", "by_top", "groups", "next_gid", "positions", "sign")

    def __init__(self, sign: int, positions: dict[int, Position]) -> None:
        self.sign = sign
        self.positions = positions
        """The engine's open positions by id: a fired stop's position is found there."""
        self.groups: dict[int, TrailGroup] = {}
        self.at_extreme: dict[int, TrailGroup] = {}
        """Group by extreme: extremes are distinct (equal ones merge)."""
        self.by_extreme = LevelIndex()
        """(extreme, gid)."""
        self.by_top = LevelIndex()
        """(highest stop, gid)."""
        self.next_gid = 1

    def __len__(self) -> int:
        return sum(len(group.stops) for group in self.groups.values())

    def stop_of(self, pos: Position) -> int:
        """The live stop of a position in this side, as a price."""
        ext = pos.ext
        assert ext is not None and ext.trailing is not None
        return self.sign * (live_group(pos).extreme - ext.trailing)

    def add(self, pos: Position, price: int) -> None:
        """Start `pos`'s trail at the close-side `price` (its distance is `pos.ext.trailing`)."""
        ext = pos.ext
        assert ext is not None and ext.trailing is not None
        extreme = self.sign * price
        group = self.at_extreme.get(extreme)
        if group is None:
            group = TrailGroup(self.next_gid, extreme)
            self.next_gid += 1
            self.groups[group.gid] = group
            self.at_extreme[extreme] = group
            self.by_extreme.add(extreme, group.gid)
        else:
            self.by_top.remove(group.top(), group.gid)
        group.stops.add(ext.trailing, pos.pos_id)
        ext.trail = group
        self.by_top.add(group.top(), group.gid)

    def remove(self, pos: Position) -> None:
        """Take `pos`'s stop out; its last value stays in `pos.ext.last_stop` for views."""
        ext = pos.ext
        if ext is None or ext.trail is None or ext.trailing is None:
            raise InvariantError(f"trade {pos.trade_id} has no live trailing stop")
        group = live_group(pos)
        ext.last_stop = self.stop_of(pos)
        self.by_top.remove(group.top(), group.gid)
        group.stops.remove(ext.trailing, pos.pos_id)
        ext.trail = None
        if len(group.stops):
            self.by_top.add(group.top(), group.gid)
        else:
            self._drop(group)

    def _drop(self, group: TrailGroup) -> None:
        del self.groups[group.gid]
        del self.at_extreme[group.extreme]
        self.by_extreme.remove(group.extreme, group.gid)

    def move(self, price: int) -> list[tuple[int, Position]]:
        """Follow the close-side `price`: raise the extremes it passes, then take out and return
        the stops it reaches, as (stop price, position), first on the price path first."""
        value = self.sign * price
        lowest = self.by_extreme.min_level()
        if lowest is not None and lowest < value:
            self._raise_to(value)
        highest = self.by_top.max_level()
        if highest is None or highest < value:
            return []
        fired: list[tuple[int, int, Position]] = []
        for gid in self.by_top.pop_from(value):
            group = self.groups[gid]
            extreme = group.extreme
            for pos_id in group.stops.pop_to(extreme - value):
                pos = self.positions[pos_id]
                ext = pos.ext
                assert ext is not None and ext.trailing is not None
                stop = extreme - ext.trailing
                ext.last_stop = self.sign * stop
                ext.trail = None
                fired.append((-stop, pos_id, pos))
            if len(group.stops):
                self.by_top.add(group.top(), gid)
            else:
                self._drop(group)
        fired.sort(key=lambda item: (item[0], item[1]))
        return [(self.sign * -stop, pos) for stop, _, pos in fired]

    def _raise_to(self, value: int) -> None:
        """Every group whose extreme is below `value` now has it: merge them into one."""
        raised = [self.groups[gid] for gid in self.by_extreme.pop_to(value - 1)]
        same = self.at_extreme.get(value)
        if same is not None:
            raised.append(same)
            self.by_extreme.remove(value, same.gid)
        target = max(raised, key=lambda group: (len(group.stops), -group.gid))
        for group in raised:  # all keyed by their tops as they are, before any merge
            self.by_top.remove(group.top(), group.gid)
            del self.at_extreme[group.extreme]
        others = [group for group in raised if group is not target]
        moved = sum(len(group.stops) for group in others)
        if moved * 8 > len(target.stops):
            target.stops.absorb(*(group.stops for group in others))  # in C, one sort
        else:
            add = target.stops.add
            for group in others:
                for d, pos_id in group.stops.pairs():
                    add(d, pos_id)
        for group in others:
            del self.groups[group.gid]
            group.stops = LevelIndex()  # emptied, or still holding the moved pairs
            group.parent = target
        target.extreme = value
        self.at_extreme[value] = target
        self.by_extreme.add(value, target.gid)
        self.by_top.add(target.top(), target.gid)

    def entries(self) -> list[tuple[int, int]]:
        """(stop price, pos_id) of every live stop, for tests and brute-force checks."""
        return sorted(
            (self.sign * (group.extreme - d), pos_id)
            for group in self.groups.values()
            for d, pos_id in group.stops.pairs()
        )
