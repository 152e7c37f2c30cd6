"""Moved to `gateway_svc.ledger.persister` (the ledger process); kept until the gateway stops
importing it."""

from gateway_svc.ledger.persister import EventPersister

__all__ = ["EventPersister"]
