"""A service's own /metrics (the engine's on ENGINE_METRICS_PORT, the ledger's on
LEDGER_METRICS_PORT): prometheus_client's server in a thread, or a configuration error naming
the variable when the port cannot be had (mesh.ports), as for the gateway's ports. A metrics
port in use is most often a second exchange on the same machine: running on without metrics
would leave the operator scraping the other one's.
"""

from __future__ import annotations

import logging
import os
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from mesh.ports import cannot_listen, check_port_free

log = logging.getLogger(__name__)


def serve_metrics(
    registry: CollectorRegistry, host: str, port: int, what: str
) -> WSGIServer | None:
    """/metrics of `registry` on `host:port`, `what` naming it ("engine metrics": a key of
    mesh.ports.LISTEN_VARIABLES); None when `port` is 0 (off). A port something else listens
    on past PORT_RELEASE_S, or a host that is not this machine's, is a ConfigError."""
    if not port:
        return None
    check_port_free(host, port, what)
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:  # taken between the check and the bind
        raise cannot_listen(what, host, port, exc) from None
    # A forked child (the engine's snapshot writer) must not keep the port: a service killed
    # while one runs would find it taken on its restart.
    os.register_at_fork(after_in_child=server.socket.close)
    log.info("%s on http://%s:%d/metrics", what, host, port)
    return server
