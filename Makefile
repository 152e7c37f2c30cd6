# One entry point for people and CI. Every target creates and uses .venv/ in the checkout.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BUF := node_modules/.bin/buf
PROTOS := $(wildcard proto/exchange/v1/*.proto)

.PHONY: run test test-long test-integration gen gen-check lint bench bench-core clean install

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

run: $(STAMP)
	$(BIN)/exchange up

test: $(STAMP)
	$(BIN)/pytest -q

test-long: $(STAMP)
	EXCHANGE_TEST_LONG=1 $(BIN)/pytest -q

gen: $(STAMP)
	$(BIN)/python -m mesh.protogen gen

gen-check: $(STAMP)
	$(BIN)/python -m mesh.protogen check

# The C sources must compile warning-free: -Werror here, not in the install (a user's compiler
# may warn about more).
lint: $(STAMP) $(BUF)
	$(BIN)/ruff check .
	$(BIN)/mypy engine_svc/core
	$(BUF) lint
	$(BIN)/lint-imports
	$(BIN)/python -m mesh.protogen check
	$(CC) -fsyntax-only -Wall -Wextra -Werror -Wno-missing-field-initializers \
	  -I"$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
	  engine_svc/core/native/*.c

bench: $(STAMP)
	$(BIN)/python -m engine_svc.bench

clean:
	rm -rf $(VENV) node_modules .exchange
