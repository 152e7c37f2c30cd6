"""The engine, killed with SIGKILL by itself at its first publish that carries an answer: after
the batch's journal commit, before anything of it reaches Redis. Run by the crash test as
`python -m tests.engine_service.crash_before_publish`."""

from __future__ import annotations

import os
import signal

from engine_svc import main
from engine_svc.service import committer
from engine_svc.service.outbox import Outbox
from mesh.resp import RespConnection

_real_publish = committer.publish


async def _publish_or_die(out: RespConnection, outbox: Outbox) -> None:
    if outbox.answers:
        os.kill(os.getpid(), signal.SIGKILL)
    await _real_publish(out, outbox)


if __name__ == "__main__":
    committer.publish = _publish_or_die  # type: ignore[assignment]
    raise SystemExit(main.main())
