"""The gateway's supervisor (GATEWAY_WORKERS > 1) only starts and watches its workers: the
module it runs as imports none of the serving code, so the workers start without waiting for
gRPC, FastAPI and SQLAlchemy to load in their parent first."""

from __future__ import annotations

import subprocess
import sys

SERVING = ("grpc", "fastapi", "sqlalchemy", "uvicorn", "gateway_svc.gateway_process")


def test_the_gateway_entry_point_loads_no_serving_code() -> None:
    probe = (
        f"import sys, gateway_svc.main\nprint(','.join(m for m in {SERVING!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "", f"loaded by gateway_svc.main: {done.stdout.strip()}"
