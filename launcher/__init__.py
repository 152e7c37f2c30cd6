"""The `exchange` command: it starts the services, so it is the one package above them all
(mesh, the shared plumbing, stays below every service and imports none)."""
