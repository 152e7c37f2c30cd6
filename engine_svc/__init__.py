"""The engine: the single in-memory writer of balances and positions."""
