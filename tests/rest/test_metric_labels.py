"""Prometheus labels stay a bounded set whatever a client sends: made-up methods are OTHER,
unmatched paths one label, matched ones their route template (rest/middleware.py)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import generate_latest


def label_values(app: FastAPI, label: str) -> set[str]:
    registry = app.state.metrics.registry
    values = set()
    for metric in registry.collect():
        if metric.name != "http_requests":
            continue
        for sample in metric.samples:
            if label in sample.labels:
                values.add(sample.labels[label])
    return values


async def test_made_up_methods_share_one_label(app: FastAPI, client: httpx.AsyncClient) -> None:
    for i in range(20):
        await client.request(f"X{i}METHOD", "/api/v1/supportedAssets")
    await client.get("/api/v1/supportedAssets")
    await client.request("DELETE", "/api/v1/supportedAssets")
    assert label_values(app, "method") == {"GET", "DELETE", "OTHER"}
    assert b"X1METHOD" not in generate_latest(app.state.metrics.registry)


async def test_unknown_paths_share_one_label_and_routes_keep_their_template(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for i in range(20):
        await client.get(f"/no/such/path/{i}")
        await client.get(f"/static/nothing-{i}.js")
    await client.get("/api/v1/supportedAssets")
    routes = label_values(app, "route")
    assert "unmatched" in routes and "/api/v1/supportedAssets" in routes
    assert not any("/no/such/path/" in route or "nothing-" in route for route in routes)
    assert len(routes) <= 3, routes
