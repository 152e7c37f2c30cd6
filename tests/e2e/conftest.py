"""A running mesh for end-to-end tests: migrated database, SMTP catcher, engine, ledger,
gateway (EXCHANGE_TEST_GATEWAY_WORKERS processes), and a poller replaying opening prices."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gateway_svc.db.migrate import upgrade_to_head
from tests.e2e.harness import MailCatcher, Mesh, write_replay
from tests.polling import poll

OPENING_PRICES = [
    (0, "SOL_USDC", "235.90", "235.95"),
    (0, "ETH_USDC", "3001.10", "3001.11"),
    (0, "BTC_USDC", "90012.6", "90012.7"),
]


def small_long() -> dict[str, object]:
    """A CREATE_TRADE body the load tests send again and again: 1 USD at 10x on SOL, which the
    opening prices never liquidate. A new dict each time, for the caller to add to."""
    return {
        "command": "CREATE_TRADE",
        "asset": "SOL_USDC",
        "direction": "LONG",
        "margin": 1,
        "leverage": 10,
    }


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    catcher = MailCatcher()
    catcher.start()
    yield catcher
    catcher.stop()


@pytest.fixture
def mesh(redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher) -> Iterator[Mesh]:
    with running_mesh(Mesh(redis_url, database_url, tmp_path, mail.port)) as running:
        yield running


@contextmanager
def running_mesh(mesh: Mesh) -> Iterator[Mesh]:
    """`mesh` on a migrated database, started with the opening prices, stopped after."""
    upgrade_to_head(mesh.database_url)
    opening = write_replay(mesh.workdir / "opening.csv", OPENING_PRICES)
    try:
        mesh.start_all(f"replay:{opening}")
        wait_for_price(mesh, "SOL_USDC", "235950000")
        yield mesh
    finally:
        mesh.stop_all()


def wait_for_price(mesh: Mesh, asset: str, ask_units: str, timeout_s: float = 20.0) -> None:
    poll(
        lambda: httpx.get(f"{mesh.base_url}/api/v1/price", params={"asset": asset}),
        lambda answer: answer.status_code == 200 and answer.json()["price"] == ask_units,
        timeout_s=timeout_s,
        what=f"the price of {asset} at {ask_units}",
    )


def sign_in(mesh: Mesh, mail: MailCatcher, email: str) -> httpx.Client:
    """Sign up through the REST API and follow the mailed link; returns a client with the
    session cookie."""
    client = httpx.Client(base_url=mesh.base_url, timeout=15)
    response = client.post("/api/v1/user/signup", json={"email": email})
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "successfully sent email"}
    link = mail.link_for(email)
    landing = client.get(
        link.replace("http://localhost:3005", mesh.base_url), follow_redirects=False
    )
    assert landing.status_code in (302, 303, 307), landing.text
    assert landing.headers["location"] == f"{mesh.base_url}/"
    assert "authToken" in client.cookies
    return client
