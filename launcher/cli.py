"""The one console script: `exchange up|engine|ledger|gateway|poller|migrate|reconcile`.

`up` runs the whole mesh for development: embedded Redis and PostgreSQL when REDIS_URL /
DATABASE_URL are unset, migrations, then one child process per service, restarted if one
dies, and all stopped cleanly on Ctrl-C. The other commands run one piece, for production.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from launcher import database
from mesh import logs
from mesh.config import (
    EXIT_CONFIG,
    ConfigError,
    Settings,
    load_dotenv,
    load_settings,
    required,
)
from mesh.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServer
from mesh.ports import check_port_free
from mesh.private_files import private_directory, write_private
from mesh.restarts import RestartSchedule
from mesh.signals import die_with_parent, terminate_together

log = logging.getLogger("exchange")

SERVICES = ("engine", "ledger", "poller", "gateway")
USE_DATABASE = ("ledger", "gateway")
"""The services that connect to DATABASE_URL: checked before they start, as by `up`."""
STOP_GRACE_S = 20.0


UP_PID_ENV = "EXCHANGE_UP_PID"
"""Set by `exchange up` in its children's environment: they stop when it ends, however."""


def _run_service(name: str) -> int:
    # Taken out of the environment: the promise is this process's, not its own children's
    # (a gateway's workers promise their own parent, the gateway).
    up = os.environ.pop(UP_PID_ENV, None)
    if up:  # a child of `exchange up`: no orphan of a killed launcher beside the next start
        die_with_parent(int(up), name)
    if name in USE_DATABASE:
        database.check_setting()
    if name == "engine":
        from engine_svc.main import main as service_main
    elif name == "gateway":
        from gateway_svc.main import main as service_main
    elif name == "poller":
        from poller_svc.main import main as service_main
    elif name == "ledger":
        from gateway_svc.ledger.main import main as service_main
    else:  # pragma: no cover - argparse restricts the choices
        raise SystemExit(f"unknown service {name}")
    return service_main()


def _migrate() -> int:
    logs.setup("migrate")
    settings = load_settings(need_secrets=False)  # migrating signs nothing and mails nothing
    (database_url,) = required("migrate", DATABASE_URL=settings.database_url)
    from gateway_svc.db.migrate import upgrade_to_head

    _migrated(upgrade_to_head, database_url)
    log.info("database is at the newest migration")
    return 0


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    """Development secrets kept in the data folder, so sessions survive a restart."""
    private_directory(data_dir)  # the embedded servers' data and these secrets live here
    path = data_dir / "dev-secrets.env"
    values: dict[str, str] = {}
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # written by an older version with the umask's mode
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key and value:
                values[key] = value
    changed = False
    for key in ("AUTH_JWT_SECRET", "EMAIL_JWT_SECRET"):
        if not os.environ.get(key) and key not in values:
            values[key] = secrets.token_urlsafe(32)
            changed = True
    if changed:
        # Created 0600 (never write-then-chmod): these sign every session.
        write_private(path, "".join(f"{k}={v}\n" for k, v in values.items()))
        log.warning("generated development secrets in %s (set them in production)", path)
    return {k: v for k, v in values.items() if not os.environ.get(k)}


def _migrated(upgrade: Callable[[str], None], database_url: str) -> None:
    """The schema brought up to date; a DATABASE_URL that is no database URL, or a database
    that cannot be reached, is a configuration error naming it (its driver's first line,
    not its chained tracebacks)."""
    from sqlalchemy.exc import OperationalError

    try:
        upgrade(database.checked_url(database_url))
    except OperationalError as exc:
        raise ConfigError(
            f"cannot reach the database at DATABASE_URL: {database.failure(exc)}"
        ) from None


def _banner(settings: Settings) -> str:
    links = (
        f"mailed through {settings.smtp_host}:{settings.smtp_port}"
        if settings.smtp_host
        else "written to this console (no SMTP_HOST): open the link to sign in"
    )
    return (
        "the exchange is starting\n"
        f"    web page and REST  http://localhost:{settings.http_port}/\n"
        f"    gRPC               {settings.grpc_target} (reflection on)\n"
        f"    sign-in links      {links}\n"
        f"    data               {settings.data_dir}/ and {settings.snapshot_dir}/\n"
        "    stop               Ctrl-C (a final snapshot is written)"
    )


Child = tuple[str, str, dict[str, str]]
"""(the child's name, the service it runs, its own environment variables)."""


def children_of(settings: Settings, env: Mapping[str, str]) -> list[Child]:
    """The processes `exchange up` runs, in start order: the engine, LEDGER_WORKERS ledgers,
    the poller, the gateway (which starts its own GATEWAY_WORKERS). The ledgers share the
    groups under consumer names of their own, stable across restarts, and serve /metrics on
    LEDGER_METRICS_PORT, +1, +2 ... (the ledger's writes are order-independent and exactly
    once per key, so any number may share a stream: a storm is written by all of them)."""
    _check_ports_apart(settings)
    base = env.get("LEDGER_CONSUMER") or f"ledger-{socket.gethostname()}"
    ledgers: list[Child] = []
    for i in range(settings.ledger_workers):
        own = {"LEDGER_CONSUMER": base if i == 0 else f"{base}-{i + 1}"}
        if settings.ledger_metrics_port:
            own["LEDGER_METRICS_PORT"] = str(settings.ledger_metrics_port + i)
        name = "ledger" if settings.ledger_workers == 1 else f"ledger-{i + 1}"
        ledgers.append((name, "ledger", own))
    return [
        ("engine", "engine", {}),
        *ledgers,
        ("poller", "poller", {}),
        ("gateway", "gateway", {}),
    ]


MAX_PORT = 65535


class Listener(NamedTuple):
    """A port a child of `exchange up` listens on."""

    variable: str  # as the operator sets it: "LEDGER_METRICS_PORT + 1 (ledger 2 of ...)"
    what: str  # what listens: a key of mesh.ports.LISTEN_VARIABLES
    host: str
    port: int


def _listeners(settings: Settings) -> list[Listener]:
    """Every port the children listen on, the one list both checks below read: the gateway's
    two (0 there is "any free port"), and the engine's and each ledger's metrics unless off
    (0)."""
    from gateway_svc.workers import http_host

    listeners = [
        Listener("HTTP_PORT", "HTTP", http_host(), settings.http_port),
        Listener("GRPC_PORT", "gRPC", settings.grpc_host.strip("[]"), settings.grpc_port),
    ]
    if settings.engine_metrics_port:
        port = settings.engine_metrics_port
        listeners.append(
            Listener("ENGINE_METRICS_PORT", "engine metrics", settings.metrics_host, port)
        )
    if settings.ledger_metrics_port:
        for i in range(settings.ledger_workers):
            name = "LEDGER_METRICS_PORT" + (
                f" + {i} (ledger {i + 1} of LEDGER_WORKERS)" if i else ""
            )
            port = settings.ledger_metrics_port + i
            listeners.append(Listener(name, "ledger metrics", settings.metrics_host, port))
    return listeners


def _check_ports_apart(settings: Settings) -> None:
    """Every port the children listen on is their own: a clash would stop the second one
    after PORT_RELEASE_S, and with it the exchange, so it is said before anything starts.
    0 is "any free port", never a clash."""
    taken: dict[int, str] = {}
    for name, _what, _host, port in _listeners(settings):
        if port > MAX_PORT:  # a ledger's, counted up from LEDGER_METRICS_PORT
            raise ConfigError(f"{name} is port {port}, past {MAX_PORT}: lower LEDGER_METRICS_PORT")
        if port and port in taken:
            raise ConfigError(f"{taken[port]} and {name} are both port {port}: give each its own")
        taken[port] = name


def _check_ports_free(settings: Settings) -> None:
    """Every port the children will listen on, before the embedded servers start and the
    schema migrates: one taken (a second exchange on this machine, say) is said at once, not
    some seconds later when its service comes to bind it and the exchange stops again. Each
    service still checks its own as it starts (a port can be taken in between)."""
    for _name, what, host, port in _listeners(settings):
        check_port_free(host, port, what)


class Supervisor:
    """Runs each service as a child process and keeps the embedded servers running; restarts
    whichever dies, on the one schedule of mesh.restarts (1, 2, 4 ... 30 s for crashes in a
    row, from 1 s again after a stable run). A restart waits its turn without holding up the
    others' watch. A child that exits EXIT_CONFIG says its configuration is wrong, which no
    restart mends: the exchange stops (`failed` names it)."""

    def __init__(
        self,
        env: dict[str, str],
        plan: list[Child],
        servers: Mapping[str, EmbeddedServer] | None = None,
    ) -> None:
        self.env = env
        self.plan = plan
        self.servers: dict[str, EmbeddedServer] = dict(servers or {})
        """The embedded ones ("embedded redis", "embedded postgres"): restarted on their
        address and data, which the children's REDIS_URL and DATABASE_URL still name (Redis's
        AOF, fsynced every second, keeps the streams)."""
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: RestartSchedule[str] = RestartSchedule()
        self.stopping = False
        self.failed: str | None = None

    def start_all(self) -> None:
        for name, _, _ in self.plan:
            self.start(name)

    def start(self, name: str) -> None:
        service, own = next((svc, own) for n, svc, own in self.plan if n == name)
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", service], env={**self.env, **own}
        )
        self.restarts.started(name, time.monotonic())

    def watch(self) -> None:
        while not self.stopping and self.failed is None:
            time.sleep(0.5)
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        """One look: schedule the restart of a server or child that died, start those due."""
        if self.stopping:
            return
        for name, server in self.servers.items():
            ended = server.died() if not self.restarts.waiting(name) else None
            if ended is not None:
                self._schedule(name, ended, now)
        for name, child in list(self.children.items()):
            if self.restarts.waiting(name):
                continue
            code = child.poll()
            if code is None:
                continue
            if code == EXIT_CONFIG:
                log.error("%s stopped: its configuration is wrong (its line above says why); "
                          "stopping the exchange", name)  # fmt: skip
                self.failed = name
                return
            self._schedule(name, f"exited with {code}", now)
        for name in self.restarts.take_due(now):
            if name in self.servers:
                self._restart_server(name, now)
            else:
                self.start(name)

    def _schedule(self, name: str, ended: str, now: float) -> None:
        delay = self.restarts.crashed(name, now)
        log.error("%s %s; restarting in %.0fs", name, ended, delay)

    def _restart_server(self, name: str, now: float) -> None:
        server = self.servers[name]
        self.restarts.started(name, now)  # so a start that fails counts as a crash in a row
        try:
            server.start()
        except Exception as exc:  # whatever the start raised, it is not back: try again later
            self._schedule(name, f"did not start ({exc})", now)
            return
        log.info("%s is back on %s", name, server.url)

    def stop(self) -> None:
        self.stopping = True
        for name in stop_children(self.children, STOP_GRACE_S):
            log.error("%s did not stop in %.0fs: killed it", name, STOP_GRACE_S)


def stop_children(children: Mapping[str, subprocess.Popen[bytes]], grace_s: float) -> list[str]:
    """Every child but the engine at once, then the engine, whose final snapshot then holds
    every command the gateway sent it. The rest depend on no order: the streams keep what a
    stopped ledger has not written. The names of those that had to be killed."""
    engine = {name: child for name, child in children.items() if name == "engine"}
    others = {name: child for name, child in children.items() if name != "engine"}
    return terminate_together(others, grace_s) + terminate_together(engine, grace_s)


def _up(dotenv: Path | None) -> int:
    logs.setup("exchange")
    if dotenv is not None:
        log.info("settings from %s (where the environment does not set them)", dotenv)
    base = load_settings(need_secrets=False)
    if base.database_url:  # checked before anything is written or started for nothing
        database.checked_url(base.database_url)
    if not base.production:  # development secrets, kept in the data folder, before the check
        os.environ.update(_dev_secrets(base.data_dir))
    settings = load_settings()
    env = dict(os.environ)
    env[UP_PID_ENV] = str(os.getpid())
    embedded: list[EmbeddedRedis | EmbeddedPostgres] = []
    supervisor = Supervisor(env, children_of(settings, env))
    _check_ports_free(settings)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starting us in the background leaves it ignored, while the services
    # set their own handlers, so Ctrl-C to the group would stop them and we would restart them.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        if not settings.redis_url:
            redis_server = EmbeddedRedis(settings.data_dir / "redis")
            embedded.append(redis_server)
            env["REDIS_URL"] = redis_server.start()
            supervisor.servers["embedded redis"] = redis_server
        if not settings.database_url:
            pg_server = EmbeddedPostgres(settings.data_dir / database.EMBEDDED_POSTGRES)
            embedded.append(pg_server)
            env["DATABASE_URL"] = pg_server.start()
            supervisor.servers["embedded postgres"] = pg_server
        from gateway_svc.db.migrate import upgrade_to_head

        _migrated(upgrade_to_head, env["DATABASE_URL"])
        supervisor.start_all()
        log.info("%s", _banner(settings))
        supervisor.watch()
    except KeyboardInterrupt:
        log.info("stopping the exchange")
    finally:
        supervisor.stop()
        for server in reversed(embedded):
            server.stop()
    log.info("stopped")
    return EXIT_CONFIG if supervisor.failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Before anything reads a setting: logging's level and format are the first.
    dotenv = load_dotenv()
    if argv[:1] == ["reconcile"]:  # its options are its own, --help included
        from launcher.reconcile import main as reconcile_main

        return reconcile_main(argv[1:])
    parser = argparse.ArgumentParser(prog="exchange", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", *SERVICES, "migrate", "reconcile"))
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return _up(dotenv)
        if args.command == "migrate":
            return _migrate()
        return _run_service(args.command)
    except ConfigError as exc:
        # One line naming the setting, not a traceback: the operator's to fix, not ours.
        print(f"exchange {args.command}: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    raise SystemExit(main())
