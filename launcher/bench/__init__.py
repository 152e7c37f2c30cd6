"""The exchange benchmark: the exchange as users meet it, `python -m launcher.bench`."""
