"""The front door: gRPC server, REST/JSON facade, auth and the Postgres audit trail."""
