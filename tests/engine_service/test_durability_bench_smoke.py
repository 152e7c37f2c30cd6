"""The durability benchmark's recovery measure runs end to end at tiny sizes."""

from __future__ import annotations

from pathlib import Path

from engine_svc.bench import durability_bench


def test_recovery_is_measured_in_a_fresh_process_and_matches_the_live_state(
    tmp_path: Path,
) -> None:
    engine = durability_bench._engine_with_positions(accounts=20, per_account=3)
    snap_dir, expected = durability_bench.prepare_recovery(
        engine, tmp_path, journal_records=50, accounts=20
    )
    result = durability_bench.measure_recovery(snap_dir, expected)
    assert result["hash_equal"] is True
    assert result["replayed"] == 50
    assert list(result["phases"]) == ["load", "restore", "replay"]
    assert result["recovery_s"] >= sum(result["phases"].values())
