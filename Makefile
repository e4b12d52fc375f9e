# KeeMU backend: development and CI entry points (GNU make). `make` lists the targets.
#
# Local database: scripts/dev-db.sh (PostgreSQL on 127.0.0.1:$KEEMU_DEV_DB_PORT, default
# 54329, data in .data/). Tests use a throwaway server in a mktemp dir on a random free port,
# always stopped and deleted afterwards (scripts/dev-db.sh test-run).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules
# This file, for the recursive `make test-steps` / `make e2e-steps` (works with make -f).
SELF := $(abspath $(lastword $(MAKEFILE_LIST)))

WASM_TARGET := wasm32-wasip2
WASM_DIR    := target/$(WASM_TARGET)/release
COMPONENTS  := keemu-health keemu-api
WASMS       := $(WASM_DIR)/keemu_health.wasm $(WASM_DIR)/keemu_api.wasm
LISTEN      ?= 127.0.0.1:3000
DEV_API_TOKEN := dev-token-change-me

CARGO_WASM_BUILD := cargo build --target $(WASM_TARGET) --release $(addprefix -p ,$(COMPONENTS))
MIGRATE          := cargo run -q -p keemu-pg-native --bin keemu-migrate

# Fails (exit 1) with the install page when the spin CLI is missing. Never pretends.
REQUIRE_SPIN = command -v spin >/dev/null 2>&1 || { \
	echo "make: the 'spin' CLI (Spin 4) is not on PATH, so '$@' cannot run." >&2; \
	echo "make: install it from https://spinframework.dev/install and put it on PATH." >&2; \
	exit 1; }

.PHONY: help up down db-start db-shell db-migrate health test test-steps e2e \
	fmt lint build check-manifest wasm-target

help: ## List the targets
	@echo "KeeMU backend. Targets:"
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) \
	  | awk 'BEGIN { FS = ":.*## " } { printf "  %-16s %s\n", $$1, $$2 }'
	@echo "Variables: DATABASE_URL (make up / db-migrate; default: the local dev database),"
	@echo "  KEEMU_API_TOKEN (make up), KEEMU_DEV_DB_PORT (default 54329), LISTEN (default $(LISTEN))"

wasm-target: ## Install the wasm32-wasip2 Rust target if missing
	@if ! command -v rustup >/dev/null 2>&1; then \
	  echo "make: rustup not found; assuming the $(WASM_TARGET) target is installed" >&2; \
	elif ! rustup target list --installed | grep -qx '$(WASM_TARGET)'; then \
	  rustup target add $(WASM_TARGET); \
	fi

up: wasm-target ## Local DB (unless DATABASE_URL is set), migrations, wasm build, then spin up on LISTEN
	@if [ -n "$${DATABASE_URL:-}" ]; then \
	  db_url="$$DATABASE_URL"; echo "make up: using DATABASE_URL from the environment"; \
	else \
	  db_url="$$(scripts/dev-db.sh start)"; echo "make up: local dev database $$db_url"; \
	fi; \
	db_host="$$(scripts/dev-db.sh host-port "$$db_url")"; \
	echo "make up: running migrations"; \
	DATABASE_URL="$$db_url" $(MIGRATE); \
	echo "make up: building components"; \
	$(CARGO_WASM_BUILD); \
	$(REQUIRE_SPIN); \
	token_args=(); \
	if [ -n "$${KEEMU_API_TOKEN:-}" ]; then \
	  token_args=(--variable "api_token=$$KEEMU_API_TOKEN"); \
	elif [ -f .env ] && grep -Eq '^[[:space:]]*(export[[:space:]]+)?KEEMU_API_TOKEN=' .env; then \
	  echo "make up: api_token from KEEMU_API_TOKEN in .env"; \
	else \
	  echo "make up: WARNING: KEEMU_API_TOKEN is not set; using the development token '$(DEV_API_TOKEN)'" >&2; \
	  token_args=(--variable "api_token=$(DEV_API_TOKEN)"); \
	fi; \
	echo "make up: spin up on http://$(LISTEN) (database $$db_host)"; \
	exec spin up --listen $(LISTEN) --runtime-config-file runtime-config.toml \
	  --variable "database_url=$$db_url" --variable "db_host=$$db_host" "$${token_args[@]}"

db-start: ## Start the local dev database (reused if running) and print its DATABASE_URL
	@scripts/dev-db.sh start

down: ## Stop the local dev database (its data is kept in .data/)
	@scripts/dev-db.sh stop

db-shell: ## psql on the local dev database
	@scripts/dev-db.sh shell

db-migrate: ## Apply migrations/ to DATABASE_URL, or to the local dev database
	@db_url="$${DATABASE_URL:-}"; \
	if [ -z "$$db_url" ]; then db_url="$$(scripts/dev-db.sh start)"; fi; \
	DATABASE_URL="$$db_url" $(MIGRATE)

health: ## curl the running app's /health
	curl -fsS -i http://$(LISTEN)/health

test: ## Everything CI runs, against a throwaway PostgreSQL (fmt, tests, wasm build, clippy, manifest)
	@scripts/dev-db.sh test-run KEEMU_TEST_DATABASE_URL $(MAKE) --no-print-directory -f $(SELF) test-steps

test-steps: wasm-target ## The `test` steps against an existing KEEMU_TEST_DATABASE_URL
	@[ -n "$${KEEMU_TEST_DATABASE_URL:-}" ] || { echo "make: KEEMU_TEST_DATABASE_URL is not set (use 'make test')" >&2; exit 1; }
	cargo fmt --all --check
	cargo test --workspace --exclude keemu-health --exclude keemu-api
	$(CARGO_WASM_BUILD)
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p keemu -p keemu-spin-glue -p keemu-health -p keemu-api -- -D warnings
	python3 scripts/check-manifest.py --self-test
	python3 scripts/check-manifest.py
	@for f in $(WASMS); do printf '%s: %s bytes\n' "$$f" "$$(wc -c <"$$f" | tr -d ' ')"; done

e2e: wasm-target ## End-to-end tests under a real `spin up` (needs spin; each test starts its own PostgreSQL)
	@$(REQUIRE_SPIN)
	$(CARGO_WASM_BUILD)
	cargo test --test e2e -- --ignored --test-threads=1

fmt: ## Format the code
	cargo fmt --all

lint: wasm-target ## fmt check, clippy (native and wasm), manifest check without sources
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p keemu -p keemu-spin-glue -p keemu-health -p keemu-api -- -D warnings
	python3 scripts/check-manifest.py --no-sources

build: wasm-target ## Build both components for wasm32-wasip2 (release) and print their sizes
	$(CARGO_WASM_BUILD)
	@for f in $(WASMS); do printf '%s: %s bytes\n' "$$f" "$$(wc -c <"$$f" | tr -d ' ')"; done

check-manifest: ## Check spin.toml (self-test, then against the built components)
	python3 scripts/check-manifest.py --self-test
	python3 scripts/check-manifest.py

# --- Benchmarks (bench/run.sh; see README "Performance") ----------------------------------
# Kept in a block of their own. Needs spin (PATH or ../shared/spin/spin), PostgreSQL server
# binaries, and wrk (installed with apt-get when missing and running as root).

.PHONY: bench bench-large

bench: wasm-target ## Load test under real `spin up` beside the floor app; writes bench/results.md
	@bench/run.sh

bench-large: wasm-target ## `make bench` with 1,000,000 users loaded by SQL (first page vs after=900000)
	@BENCH_USERS=$${BENCH_USERS:-1000000} BENCH_OUT=$${BENCH_OUT:-bench/results-large.md} bench/run.sh
