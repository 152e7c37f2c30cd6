"""Per-client limits through the REST facade count each browser's address, not the facade's.

The facade calls its gRPC server over a Unix socket and forwards the caller's address in
`x-forwarded-for`; the limit on sign-in links per client must key on that address. Keyed on
the socket instead, every REST user would share one bucket: one client spending it would
lock everyone else out of signing in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway_svc.db.migrate import upgrade_to_head
from tests.e2e.harness import MailCatcher, Mesh

LINKS_PER_CLIENT = 2


@pytest.fixture
def gateway(redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher) -> Iterator[Mesh]:
    upgrade_to_head(database_url)
    mesh = Mesh(
        redis_url,
        database_url,
        tmp_path,
        mail.port,
        extra_env={"SIGNIN_LINKS_PER_CLIENT": str(LINKS_PER_CLIENT)},
    )
    try:
        mesh.start("engine")
        mesh.wait_log("engine", "engine ready")
        mesh.start("gateway")
        mesh.wait_http()
        yield mesh
    finally:
        mesh.stop_all()


def _ask_link(mesh: Mesh, email: str, client_ip: str) -> httpx.Response:
    # The test talks to the gateway over loopback, a trusted proxy by default, so uvicorn takes
    # the client's address from X-Forwarded-For as it would behind a reverse proxy.
    return httpx.post(
        f"{mesh.base_url}/api/v1/user/signin",
        json={"email": email},
        headers={"X-Forwarded-For": client_ip},
        timeout=15,
    )


def test_one_client_spending_its_links_leaves_others_theirs(gateway: Mesh) -> None:
    first, second = "203.0.113.1", "203.0.113.2"
    for n in range(LINKS_PER_CLIENT):
        answer = _ask_link(gateway, f"a{n}@example.com", first)
        assert answer.status_code == 200, answer.text

    refused = _ask_link(gateway, "a-last@example.com", first)
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "RATE_LIMITED"

    other = _ask_link(gateway, "b0@example.com", second)
    assert other.status_code == 200, other.text
