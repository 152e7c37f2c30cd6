"""REST load: CREATE_TRADE and CLOSE_TRADE alternating on `POST /api/v1/engine` (SPEC
section 3), each close naming a trade an earlier create opened.

Closed loop with `wrk` (Debian's package) and a Lua script written here; open loop with the
project's own generator (`open_loop`), which needs the same alternation as a `Workload`.
"""

from __future__ import annotations

import collections
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENGINE_PATH = "/api/v1/engine"
ASSET = "BTC_USDC"
# 1 cent at 1x: no liquidation price, and 5,000 USD holds 500,000 such trades open at once
# (creates whose answers a timed-out client never saw are never closed).
CREATE_BODY = json.dumps(
    {
        "command": "CREATE_TRADE",
        "asset": ASSET,
        "direction": "LONG",
        "margin": 0.01,
        "leverage": 10,
    },
    separators=(",", ":"),
)
_TRADE_ID = re.compile(rb'"tradeId"\s*:\s*"([^"]+)"')
_ORDER_ID = re.compile(rb'"orderId"\s*:\s*"([^"]+)"')


def _request(host: str, token: str, body: str) -> bytes:
    data = body.encode()
    return (
        f"POST {ENGINE_PATH} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


class TradeCycle:
    """Alternates CREATE_TRADE and CLOSE_TRADE over several users' tokens (open_loop.Workload)."""

    def __init__(
        self,
        host: str,
        tokens: list[str],
        on_order: Callable[[int, str], None] | None = None,
    ) -> None:
        """`on_order(user index, orderId)` is told of every successful answer."""
        self.host = host
        self.tokens = tokens
        self.on_order = on_order
        self.creates = [_request(host, token, CREATE_BODY) for token in tokens]
        self.open: collections.deque[tuple[int, str]] = collections.deque()
        self.turn = 0
        self.last_was_create = False

    def next_request(self) -> tuple[bytes, Any]:
        if self.last_was_create and self.open:
            self.last_was_create = False
            user, trade_id = self.open.popleft()
            body = json.dumps({"command": "CLOSE_TRADE", "tradeId": trade_id})
            return _request(self.host, self.tokens[user], body), (user, False)
        self.last_was_create = True
        self.turn = (self.turn + 1) % len(self.tokens)
        return self.creates[self.turn], (self.turn, True)

    def on_answer(self, context: Any, status: int, body: bytes) -> bool:
        user, was_create = context
        if status != 200:
            return False
        if self.on_order is not None:
            order = _ORDER_ID.search(body)
            if order is not None:
                self.on_order(user, order.group(1).decode())
        if was_create:
            match = _TRADE_ID.search(body)
            if match is None:
                return False
            self.open.append((user, match.group(1).decode()))
        return True


WRK_SCRIPT = """
-- Written by launcher.bench.rest_load: CREATE_TRADE then CLOSE_TRADE of what it opened.
local tokens = {%(tokens)s}
local create_body = '%(create)s'
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. tokens[((id - 1) %% #tokens) + 1]
  open_trades = {}
  failures = 0
end

function request()
  local trade_id = table.remove(open_trades)
  if trade_id then
    return wrk.format(nil, "%(path)s", nil,
      '{"command":"CLOSE_TRADE","tradeId":"' .. trade_id .. '"}')
  end
  return wrk.format(nil, "%(path)s", nil, create_body)
end

function response(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    return
  end
  if not string.find(body, '"closePrice"', 1, true) then
    local trade_id = string.match(body, '"tradeId"%%s*:%%s*"([^"]+)"')
    if trade_id then table.insert(open_trades, trade_id) end
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("failures") end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
    '"not_200":%%d,"socket_errors":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, failed, e.connect + e.read + e.write + e.timeout))
end
"""


def write_wrk_script(path: Path, tokens: list[str], engine_path: str = ENGINE_PATH) -> Path:
    quoted = ", ".join(f'"{token}"' for token in tokens)
    path.write_text(WRK_SCRIPT % {"tokens": quoted, "create": CREATE_BODY, "path": engine_path})
    return path


def run_wrk(
    base_url: str, script: Path, *, connections: int, threads: int, seconds: float
) -> dict[str, float]:
    """One closed-loop run against `base_url` with the requests `script` writes (its own
    path); the figures the script's `done` prints."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    args = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(script), base_url + ENGINE_PATH,
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            figures = json.loads(line[len("BENCH ") :])
            break
    else:
        raise RuntimeError(f"wrk printed no figures (exit {done.returncode}): {done.stderr[-300:]}")
    duration_s = figures["duration_us"] / 1e6
    return {
        # Only answered successes count toward the rate.
        "rate": (figures["requests"] - figures["not_200"]) / duration_s if duration_s else 0.0,
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "errors": float(figures["not_200"] + figures["socket_errors"]),
        "requests": float(figures["requests"]),
    }
