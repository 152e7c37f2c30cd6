"""The pure engine core: commands and ticks in, responses and events out.

No I/O, clock, randomness or protobuf here (an import-linter contract enforces it): time and
ids arrive with each command, so the same inputs always give the same state and `state_hash()`.
"""

from engine_svc.core.engine import Engine

__all__ = ["Engine"]
