"""`exchange gateway`: the gRPC server and the REST facade, in GATEWAY_WORKERS processes.

With one worker (GATEWAY_WORKERS=1) this process is the gateway (gateway_svc.gateway_process);
with more, it supervises them (gateway_svc.workers) and they share the HTTP and gRPC ports
through SO_REUSEPORT. The supervisor imports none of the serving code (gRPC, FastAPI: most
of the 1.4 s of imports), so its workers start that much sooner; SQLAlchemy it loads only for
the launcher's check of DATABASE_URL (launcher.database), which names a malformed one before
any worker starts. The event persister and candle builder run in `exchange ledger`.
"""

from __future__ import annotations

import logging
import os

from gateway_svc import workers
from mesh import logs
from mesh.config import load_settings, required

log = logging.getLogger(__name__)


def main() -> int:
    """A worker (started by a gateway parent), the only gateway process, or the parent. A
    wrong setting (a port in use, say) raises ConfigError, which `exchange` reports as one
    line on stderr with EXIT_CONFIG, as for every service: `exchange up`, or the gateway's
    parent for a worker, stops instead of restarting it."""
    index = workers.worker_index()
    logs.setup("gateway" if index is None else f"gateway-{index}")
    if index is not None:
        workers.die_with_parent()
        _serve(reuse_port=True)
        return 0
    settings = load_settings()
    workers.check_ports_free(settings)
    if settings.gateway_workers <= 1:
        _serve(reuse_port=False)
        log.info("gateway stopped cleanly")
        return 0
    required("gateway", REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)
    # Secrets generated here (development, none set): the workers sign with the same ones, or
    # a session one worker issued would be refused by the others.
    for name, value in (
        ("AUTH_JWT_SECRET", settings.auth_jwt_secret),
        ("EMAIL_JWT_SECRET", settings.email_jwt_secret),
    ):
        if not os.environ.get(name):
            os.environ[name] = value
    return workers.supervise(settings)


def _serve(*, reuse_port: bool) -> None:
    import uvloop

    from gateway_svc.gateway_process import serve_one

    uvloop.run(serve_one(reuse_port=reuse_port))
