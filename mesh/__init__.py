"""Plumbing shared by the three services: configuration, streams, embedded servers, the CLI."""
