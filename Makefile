# userservice — the two commands: `make run` and `make test`. Both set up .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf

.PHONY: run test test-all lint fmt proto proto-check buf-lint buf-breaking bench bench-growth clean

# Two distributions, both editable: the client (stubs, SDK, CLI) from clients/, then the server,
# which depends on it by name; naming both in one install lets pip take the local client.
$(STAMP): pyproject.toml clients/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "userservice needs Python >= 3.11; $(PYTHON) is older (set PYTHON=python3.11)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> installing userservice and its tools into $(VENV) (about 1.5 min the first time)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# grpc-stubs (replaced by types-grpcio) writes the same grpc-stubs/ directory: remove both,
	@# then the install below puts types-grpcio back whole.
	@if $(BIN)/python -m pip show --quiet grpc-stubs 2>/dev/null; then \
		$(BIN)/python -m pip uninstall --quiet --yes grpc-stubs types-grpcio; fi
	$(BIN)/python -m pip install --progress-bar on -e ./clients -e '.[dev]'
	@touch $(STAMP)
	@echo "==> installed; put the tools on your PATH with: source $(VENV)/bin/activate"

run: $(STAMP) ## start the service on the embedded default (SQLite + in-process store)
	$(BIN)/userservice serve

test: $(STAMP) ## the suite without the tests marked slow
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP) ## the whole suite, slow tests included (what CI runs)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) proto-check buf-lint buf-breaking ## ruff, mypy --strict, import contracts, proto drift, buf lint and breaking, hadolint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

proto: $(STAMP) ## regenerate clients/generated/ from protos/
	$(BIN)/python scripts/gen_protos.py

proto-check: $(STAMP)
	$(BIN)/python scripts/gen_protos.py --check

$(BUF):
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION)

buf-lint: $(BUF)
	cd protos && ../$(BUF) lint

buf-breaking: $(STAMP) $(BUF) ## protos/ against the previous commit's (AGAINST=ref for another)
	$(BIN)/python scripts/buf_breaking.py --buf $(BUF) $(if $(AGAINST),--against $(AGAINST))

bench: $(STAMP) ## hot paths against the empty-RPC ceiling
	$(BIN)/python -m bench

bench-growth: $(STAMP) ## ListUsers and GetUser misses at 10k vs 1M users (PostgreSQL)
	$(BIN)/python -m bench.growth

clean:
	rm -rf $(VENV) .tools .mypy_cache .pytest_cache .ruff_cache .import_linter_cache
