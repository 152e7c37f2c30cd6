"""Run the engine benchmarks: `python -m engine_svc.bench [--quick]`: the core, then durability."""

from __future__ import annotations

import sys

from engine_svc.bench import core_bench, durability_bench

if __name__ == "__main__":
    code = core_bench.main()
    print()
    sys.exit(code or durability_bench.main(sys.argv[1:]))
