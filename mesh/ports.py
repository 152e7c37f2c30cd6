"""Listening ports, for every service: one that cannot be had is a configuration error naming
the variable to change (exit status 2: no restart mends it), after waiting a little for a
port whose last holder is still letting go.
"""

from __future__ import annotations

import errno
import socket
import time

from mesh.config import ConfigError

LISTEN_VARIABLES = {
    "HTTP": ("HTTP_HOST", "HTTP_PORT"),
    "gRPC": ("GRPC_HOST", "GRPC_PORT"),
    "engine metrics": ("METRICS_HOST", "ENGINE_METRICS_PORT"),
    "ledger metrics": ("METRICS_HOST", "LEDGER_METRICS_PORT"),
}
"""What listens (`what` below) -> the variables of its host and of its port."""

PORT_RELEASE_S = 5.0
"""How long a port in use may take to come free before it is a configuration error: a
service restarted after a crash can find its dead predecessor (a gateway's workers, say)
still letting go."""


def cannot_listen(what: str, host: str, port: int, exc: OSError) -> ConfigError:
    """A bind that failed, as a configuration error naming the variable to change: the host's
    when it is no address of this machine (or none at all), else the port's (in use, or
    privileged)."""
    host_variable, port_variable = LISTEN_VARIABLES[what]
    bad_host = isinstance(exc, socket.gaierror) or exc.errno in (
        errno.EADDRNOTAVAIL,  # not this machine's address
        errno.EAFNOSUPPORT,  # an IPv6 address where IPv6 is off
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return ConfigError(
        f"{host_variable if bad_host else port_variable}: cannot listen for {what} on "
        f"{address}: {exc}"
    )


def check_port_free(host: str, port: int, what: str) -> None:
    """Fail loudly if something listens on `host:port` for longer than PORT_RELEASE_S, or
    `host` is not this machine's (SO_REUSEADDR only: a socket in TIME_WAIT is no obstacle, a
    listener is). `what`: a key of LISTEN_VARIABLES."""
    deadline = time.monotonic() + PORT_RELEASE_S
    while True:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise cannot_listen(what, host, port, exc) from None
        time.sleep(0.2)
