"""Alembic migrations for the audit trail. Run them with `exchange migrate`, or
`gateway_svc.db.migrate.upgrade_to_head(url)`, or `alembic upgrade head` from the repo root."""
