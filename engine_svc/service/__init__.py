"""The engine's service layer: streams in, the pure core, journal, snapshots, streams out."""
