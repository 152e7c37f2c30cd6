"""Moved to `gateway_svc.ledger.candles` (the ledger process); kept until the gateway stops
importing it."""

from gateway_svc.ledger.candles import CandleBuilder

__all__ = ["CandleBuilder"]
