"""The bench's CPU meter on real processes: a service's CPU includes what its processes start,
and a service that did nothing shows none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from launcher.bench import cpu_share

# The busy child waits for a line on its stdin (inherited from its parent, written once the
# meter runs), then spins for 0.3 s of its own CPU time: what it burns is all inside the
# measured block, however loaded the machine is.
SPIN = (
    "import sys, time\\nsys.stdin.readline()\\nend = time.process_time() + 0.3\\n"
    "while time.process_time() < end: pass\\n"
)
# A parent that starts a busy child, reaps it, and stays: the CPU is all in the child.
BUSY_CHILD = (
    "import subprocess, sys, time; "
    f"subprocess.run([sys.executable, '-c', '{SPIN}']); "
    "print('done', flush=True); time.sleep(5)"
)
# A parent whose busy child stays alive: its CPU is found by walking the parent's descendants.
LIVE_BUSY_CHILD = (
    "import subprocess, sys; "
    f"subprocess.run([sys.executable, '-c', '{SPIN}print(\\'done\\', flush=True)\\n"
    "time.sleep(5)'])"
)
IDLE = "import time; time.sleep(5)"

pytestmark = pytest.mark.skipif(not cpu_share.PROC.is_dir(), reason="needs Linux's /proc")


@pytest.mark.parametrize("busy_code", [BUSY_CHILD, LIVE_BUSY_CHILD], ids=["reaped", "alive"])
def test_a_services_cpu_counts_its_descendants_and_an_idle_one_shows_none(
    busy_code: str,
) -> None:
    idle = subprocess.Popen([sys.executable, "-c", IDLE])
    busy = subprocess.Popen(
        [sys.executable, "-c", busy_code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        time.sleep(0.3)  # both started (interpreter start-up is not what is measured)
        with cpu_share.measured({"busy": [busy.pid], "idle": [idle.pid], "gone": [0]}) as cpu:
            assert busy.stdin is not None and busy.stdout is not None
            busy.stdin.write(b"go\n")
            busy.stdin.flush()
            assert busy.stdout.readline() == b"done\n"
        # Reaped by the block's end, the child's CPU is in its parent's; alive, in its own.
        assert cpu.seconds["busy"] > 0.05
        assert cpu.seconds["idle"] < cpu.seconds["busy"]
        assert cpu.seconds["gone"] == 0.0
        assert cpu.wall_s > 0
    finally:
        idle.kill()
        idle.wait()
        os.killpg(busy.pid, signal.SIGKILL)  # the parent and its child
        busy.wait()


def test_per_request_cost_and_its_description() -> None:
    share = cpu_share.CpuShare(seconds={"gateway": 2.0, "poller": 0.0, "engine": 0.5}, wall_s=2.0)
    # 2 s of CPU over 2 s of wall at 500 requests/s: 2 ms a request.
    assert share.per_request_ms(500) == {"gateway": 2.0, "poller": 0.0, "engine": 0.5}
    # Largest first; a service that took nothing is left out of the words.
    assert share.describe(500) == "gateway 2.00 + engine 0.50 ms; 1.2 cores busy"
    assert share.per_request_ms(0) == {}
    assert share.describe(0) == ""
