"""The exchange under test, started as production runs it: one process per service
(`python -m launcher.cli engine | gateway | poller | ledger`), the journal's fsync on, INFO
logs in files, its own Redis and PostgreSQL (embedded unless REDIS_URL / DATABASE_URL are set).

Only the limits that exist against abuse are raised (per-user command rate, open trades per
user), and prices come from a replay file, so every figure is taken at known, steady prices.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from launcher.bench.cpu_share import process_table
from launcher.cli import STOP_GRACE_S, children_of, stop_children
from mesh.config import load_settings
from mesh.embedded import EmbeddedPostgres, EmbeddedRedis, free_port

log = logging.getLogger(__name__)

# Steady prices (SPEC section 7 CSV): trades open at the ask and close at the bid.
PRICES = {
    "BTC_USDC": ("60000.0000", "60001.0000"),
    "ETH_USDC": ("3000.000000", "3000.100000"),
    "SOL_USDC": ("150.000000", "150.010000"),
}
HIGH_LIMIT = "1000000000"
START_TIMEOUT_S = 60.0
_LINK = re.compile(r"(https?://\S+/api/v1/user/signin/post\?token=([A-Za-z0-9_.-]+))")


@dataclass(frozen=True)
class User:
    email: str
    user_id: str
    token: str


def jwt_claims(token: str) -> dict[str, Any]:
    """The unverified claims of a session token: the bench only needs `sub`."""
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return claims


def write_price_file(path: Path) -> None:
    rows = ["ts_ms,asset,bid,ask"]
    rows += [f"0,{asset},{bid},{ask}" for asset, (bid, ask) in PRICES.items()]
    path.write_text("\n".join(rows) + "\n")


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ as the children will see it, for reading their settings here."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class Exchange:
    work: Path
    env: dict[str, str] = field(default_factory=dict)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    embedded: list[EmbeddedRedis | EmbeddedPostgres] = field(default_factory=list)

    @property
    def http_port(self) -> int:
        return int(self.env["HTTP_PORT"])

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.env['GRPC_PORT']}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def snapshot_dir(self) -> Path:
        return Path(self.env["SNAPSHOT_DIR"])

    def process_roots(self) -> dict[str, list[int]]:
        """Each service's root pids (a gateway's workers and Postgres's backends are their
        children), for launcher.bench.cpu_share. Redis and Postgres only when embedded here."""
        roots: dict[str, list[int]] = {}
        for name, child in self.children.items():
            roots.setdefault(name.split("-")[0], []).append(child.pid)
        for server in self.embedded:
            service = "redis" if isinstance(server, EmbeddedRedis) else "postgres"
            if server.pid is not None:
                roots.setdefault(service, []).append(server.pid)
        return roots

    def gateway_workers(self) -> int:
        """How many worker processes the gateway runs now (its children)."""
        root = self.children["gateway"].pid
        return sum(1 for parent, _ in process_table().values() if parent == root) or 1

    def log_path(self, name: str) -> Path:
        return self.work / "logs" / f"{name}.log"

    def start(self) -> None:
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        prices = self.work / "prices.csv"
        write_price_file(prices)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}
        http_port = free_port()
        env.update(
            EXCHANGE_ENV="development",  # a logged sign-in link needs it (no SMTP here)
            EXCHANGE_DATA_DIR=str(self.work / "data"),
            SNAPSHOT_DIR=str(self.work / "snapshots"),
            ENGINE_JOURNAL_FSYNC="1",
            LOG_LEVEL="INFO",
            HTTP_PORT=str(http_port),
            GRPC_PORT=str(free_port()),
            BACKEND_URL=f"http://127.0.0.1:{http_port}",
            ENGINE_METRICS_PORT=str(free_port()),
            LEDGER_METRICS_PORT=str(free_port()),
            AUTH_JWT_SECRET=secrets.token_urlsafe(32),
            EMAIL_JWT_SECRET=secrets.token_urlsafe(32),
            POLLER_SOURCE=f"replay:{prices}",
            COMMAND_RATE_LIMIT=HIGH_LIMIT,
            COMMAND_RATE_BURST=HIGH_LIMIT,
            ENGINE_MAX_OPEN_TRADES_PER_USER=HIGH_LIMIT,
            SIGNIN_LINKS_PER_CLIENT="1000",
            SIGNUPS_PER_CLIENT_PER_DAY="1000",
        )
        env.pop("GRPC_TARGET", None)
        self.env = env
        if not env.get("REDIS_URL"):
            redis_server = EmbeddedRedis(self.work / "redis")
            self.embedded.append(redis_server)
            env["REDIS_URL"] = redis_server.start()
        if not env.get("DATABASE_URL"):
            pg_server = EmbeddedPostgres(self.work / "postgres")
            self.embedded.append(pg_server)
            env["DATABASE_URL"] = pg_server.start()
        self._run_cli("migrate")
        with _environment(env):
            plan = children_of(load_settings(), env)
        for name, service, own in plan:
            self._spawn(name, service, own)
        self._wait_ready()

    def _run_cli(self, name: str) -> None:
        with self.log_path(name).open("ab") as out:
            subprocess.run(
                [sys.executable, "-m", "launcher.cli", name],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=120,
            )  # fmt: skip

    def _spawn(self, name: str, service: str, own: dict[str, str]) -> None:
        with self.log_path(name).open("ab") as out:
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "launcher.cli", service],
                env={**self.env, **own}, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    @contextlib.contextmanager
    def paused(self, service: str) -> Iterator[None]:
        """SIGSTOP every process of one service (`ledger`, `ledger-2`, ...) for the block,
        SIGCONT after; a no-op for a service that does not run."""
        stopped = [
            child
            for name, child in self.children.items()
            if name.split("-")[0] == service and child.poll() is None
        ]
        for child in stopped:
            child.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            for child in stopped:
                child.send_signal(signal.SIGCONT)

    def check_alive(self) -> None:
        dead = {name: c.returncode for name, c in self.children.items() if c.poll() is not None}
        if dead:
            logs = self.work / "logs"
            raise RuntimeError(f"exchange process(es) exited: {dead} (logs in {logs})")

    def _wait_ready(self) -> None:
        """Ready when the gateway answers /healthz and knows a price for every asset."""
        deadline = time.monotonic() + START_TIMEOUT_S
        last: object = "no answer"
        with httpx.Client(base_url=self.base_url, timeout=2.0) as http:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    health = http.get("/healthz")
                    prices = [http.get("/api/v1/price", params={"asset": a}) for a in PRICES]
                    last = (health.status_code, [p.status_code for p in prices])
                    if health.status_code == 200 and all(p.status_code == 200 for p in prices):
                        return
                except httpx.HTTPError as exc:
                    last = exc
                time.sleep(0.25)
        raise RuntimeError(f"exchange not ready within {START_TIMEOUT_S:.0f}s: {last!r}")

    def sign_up(self, emails: list[str]) -> list[User]:
        """Sign up through REST as a person would, following the link the gateway logs."""
        users = []
        with httpx.Client(base_url=self.base_url, timeout=10.0) as http:
            for email in emails:
                answer = http.post("/api/v1/user/signup", json={"email": email})
                answer.raise_for_status()
                token = self._link_token(email)
                signed_in = http.get(
                    "/api/v1/user/signin/post", params={"token": token}, follow_redirects=False
                )
                session = signed_in.cookies.get("authToken")
                if signed_in.status_code != 302 or not session:
                    raise RuntimeError(f"sign-in of {email} failed: HTTP {signed_in.status_code}")
                users.append(User(email, str(jwt_claims(session)["sub"]), session))
        return users

    def _link_token(self, email: str, timeout_s: float = 10.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.log_path("gateway").read_text(errors="replace").splitlines():
                match = _LINK.search(line)
                if match and f" {email}:" in line:
                    return match.group(2)
            time.sleep(0.1)
        raise RuntimeError(f"no sign-in link for {email} in the gateway log")

    def stop(self) -> None:
        stop_children(self.children, STOP_GRACE_S)
        self.children.clear()
        for server in reversed(self.embedded):
            try:
                server.stop()
            except Exception as exc:
                log.warning("stopping %s failed: %r", server, exc)
        self.embedded.clear()
