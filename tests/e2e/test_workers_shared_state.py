"""Two gateway worker processes share the ports: what one of them decides about a session or
a user's rate must hold on the other. Every call uses a new connection, so the kernel spreads
them over both workers (SO_REUSEPORT); with 20 calls the chance that all land on one worker is
one in half a million."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway_svc.db.migrate import upgrade_to_head
from tests.e2e.conftest import OPENING_PRICES, running_mesh, sign_in, wait_for_price
from tests.e2e.harness import MailCatcher, Mesh, write_replay

CALLS = 20
BURST = 6


@pytest.fixture
def two_workers(
    redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher
) -> Iterator[Mesh]:
    mesh = Mesh(
        redis_url,
        database_url,
        tmp_path,
        mail.port,
        gateway_workers=2,
        # One command a minute after the burst: the refill cannot blur the count.
        extra_env={"COMMAND_RATE_LIMIT": "0.0167", "COMMAND_RATE_BURST": str(BURST)},
    )
    with running_mesh(mesh) as running:
        yield running


def _balance(mesh: Mesh, token: str) -> httpx.Response:
    return httpx.post(  # a fresh connection every call
        f"{mesh.base_url}/api/v1/engine",
        json={"command": "GET_USD_BALANCE"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_a_sign_out_on_one_worker_is_refused_by_all_within_a_second(
    two_workers: Mesh, mail: MailCatcher
) -> None:
    mesh = two_workers
    client = sign_in(mesh, mail, "leaving@example.com")
    token = client.cookies["authToken"]
    assert _balance(mesh, token).status_code == 200
    signed_out = httpx.post(
        f"{mesh.base_url}/api/v1/user/logout",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert signed_out.status_code == 200, signed_out.text
    time.sleep(1.0)
    statuses = [_balance(mesh, token).status_code for _ in range(CALLS)]
    assert statuses == [401] * CALLS, statuses


def test_a_users_rate_limit_holds_across_workers(two_workers: Mesh, mail: MailCatcher) -> None:
    mesh = two_workers
    token = sign_in(mesh, mail, "eager@example.com").cookies["authToken"]
    statuses = [_balance(mesh, token).status_code for _ in range(CALLS)]
    # One bucket for the user across both processes: the burst, and then refusals. Buckets
    # per process would have let up to 2 * BURST through.
    assert statuses.count(200) == BURST, statuses
    assert statuses.count(429) == CALLS - BURST, statuses


def test_workers_started_without_secrets_share_the_ones_their_parent_made(
    redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher
) -> None:
    """`exchange gateway` on its own in development, no secrets set: each worker made its own,
    so a session one of them issued was refused by the other (about a third of the calls)."""
    upgrade_to_head(database_url)
    mesh = Mesh(
        redis_url, database_url, tmp_path, mail.port, gateway_workers=2,
        extra_env={"AUTH_JWT_SECRET": "", "EMAIL_JWT_SECRET": "", "EXCHANGE_ENV": "development"},
    )  # fmt: skip
    try:
        mesh.start_all(f"replay:{write_replay(tmp_path / 'opening.csv', OPENING_PRICES)}")
        wait_for_price(mesh, "SOL_USDC", "235950000")
        token = sign_in(mesh, mail, "no-secrets@example.com").cookies["authToken"]
        statuses = [_balance(mesh, token).status_code for _ in range(CALLS)]
    finally:
        mesh.stop_all()
    assert statuses == [200] * CALLS, statuses
