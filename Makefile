# One entry point for people and CI. Every target creates and uses .venv/ in the checkout.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BUF := node_modules/.bin/buf
PROTOS := $(wildcard proto/exchange/v1/*.proto)

.PHONY: run test test-long test-integration gen gen-check lint bench bench-core clean install web web-test chromium

install: $(STAMP)

NATIVE := $(wildcard engine_svc/core/native/*.c engine_svc/core/native/*.h)

# The C extension (engine_svc/core/native) is built by this install, in place.
$(STAMP): pyproject.toml $(NATIVE)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

$(BUF): package.json
	npm install --no-audit --no-fund --silent
	touch $(BUF)

# The web terminal (web/, TypeScript): npm ci from web/package-lock.json, then Vite builds it
# into gateway_svc/static/, which the gateway serves at / (not committed).
WEB_DEPS := web/node_modules/.installed-stamp
WEB_PAGE := gateway_svc/static/index.html
WEB_SOURCES := $(wildcard web/src/* web/index.html web/vite.config.ts web/tsconfig.json)

$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --silent
	touch $(WEB_DEPS)

$(WEB_PAGE): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npx vite build --logLevel warn

web: $(WEB_PAGE)

web-test: $(WEB_DEPS)
	cd web && npx vitest run

# The browser tests drive Debian's Chromium (no browser downloads here); installed when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: $(STAMP) $(WEB_PAGE)
	$(BIN)/exchange up

# The suite runs in one pytest-xdist worker per core, at most 8 (PYTEST_WORKERS=0: in this
# process; each worker's exchanges hold Postgres connections, and Redis has 16 databases), each
# with its own embedded servers, or its own Redis database and Postgres databases on the
# servers REDIS_URL / DATABASE_URL name (tests/conftest.py). Work stealing, not a file to a
# worker: that mode keys tests by node id, and schemathesis' tests share one.
PYTEST_WORKERS ?= auto
PYTEST := $(BIN)/pytest -q -n $(PYTEST_WORKERS) --maxprocesses 8 --dist worksteal

test: $(STAMP) $(WEB_PAGE) chromium web-test
	$(PYTEST)

test-long: $(STAMP) $(WEB_PAGE) chromium
	EXCHANGE_TEST_LONG=1 $(PYTEST)

gen: $(STAMP)
	$(BIN)/python -m mesh.protogen gen

gen-check: $(STAMP)
	$(BIN)/python -m mesh.protogen check

# The C sources must compile warning-free: -Werror here, not in the install (a user's compiler
# may warn about more).
lint: $(STAMP) $(BUF) $(WEB_DEPS)
	cd web && npx eslint . && npx tsc --noEmit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy engine_svc/core
	$(BUF) lint
	$(BIN)/lint-imports
	$(BIN)/python -m mesh.protogen check
	$(CC) -fsyntax-only -Wall -Wextra -Werror -Wno-missing-field-initializers \
	  -I"$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
	  engine_svc/core/native/*.c

# The engine alone, then the exchange as users meet it (launcher/bench), which drives the door
# with Debian's load tools: wrk (REST) and h2load (gRPC, package nghttp2-client). It keeps to
# its own time budget; `timeout` is the backstop (SIGTERM still stops the exchange it started).
bench: $(STAMP) bench-tools
	$(BIN)/python -m engine_svc.bench
	timeout --kill-after=60 900 $(BIN)/python -m launcher.bench

.PHONY: bench-tools
bench-tools:
	@command -v wrk >/dev/null && command -v h2load >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nghttp2-client; } || \
	  echo "bench: wrk / nghttp2-client could not be installed: their rows will say so"

clean:
	rm -rf $(VENV) node_modules .exchange web/node_modules gateway_svc/static
