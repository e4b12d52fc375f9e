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
COMPONENTS  := keemu-health keemu-api keemu-ingest keemu-mail
WASMS       := $(WASM_DIR)/keemu_health.wasm $(WASM_DIR)/keemu_api.wasm $(WASM_DIR)/keemu_ingest.wasm $(WASM_DIR)/keemu_mail.wasm
LISTEN      ?= 127.0.0.1:3000
DEV_API_TOKEN := dev-token-change-me
# Development-only access-token key (kid "dev"): public, so never use it anywhere else.
DEV_AUTH_KEYS := dev:ZGV2ZWxvcG1lbnQtb25seS1rZXktMzItYnl0ZXMtbG9uZw

CARGO_WASM_BUILD := cargo build --target $(WASM_TARGET) --release $(addprefix -p ,$(COMPONENTS))
MIGRATE          := cargo run -q -p keemu-pg-native --bin keemu-migrate

ROOT := $(patsubst %/,%,$(dir $(SELF)))
# The spin CLI (Spin 4): `spin` on PATH, else ../shared/spin/spin beside the repository (the
# CI layout: the repository is cloned next to a `shared/` folder). Override with SPIN=path.
SPIN ?= $(shell command -v spin 2>/dev/null \
	|| { [ -x '$(ROOT)/../shared/spin/spin' ] && cd '$(ROOT)/../shared/spin' && echo "$$PWD/spin"; } \
	|| true)
# Where `spin up` in this directory writes the components' stdout/stderr (Spin's default:
# <state dir>/logs, the state dir being .spin/ beside spin.toml).
SPIN_LOGS ?= .spin/logs
COMPONENT_IDS := health api auth ingest mail

# Fails (exit 1) with the install page when the spin CLI is missing. Never pretends.
REQUIRE_SPIN = [ -n '$(SPIN)' ] || { \
	echo "make: the 'spin' CLI (Spin 4) is not on PATH nor at ../shared/spin/spin, so '$@' cannot run." >&2; \
	echo "make: install it from https://spinframework.dev/install and put it on PATH." >&2; \
	exit 1; }

# Runs the end-to-end tests (tests/e2e/) under $(SPIN) and fails unless at least one ran.
RUN_E2E = log="$$(mktemp)"; trap 'rm -f "$$log"' EXIT; \
	echo "make: end-to-end tests under $(SPIN) ($$('$(SPIN)' --version 2>&1 | head -n 1))"; \
	KEEMU_SPIN='$(SPIN)' cargo test --test e2e -- --ignored --test-threads=1 --nocapture 2>&1 | tee "$$log"; \
	ran="$$(sed -n 's/^test result: ok\. \([0-9][0-9]*\) passed.*/\1/p' "$$log" | tail -n 1)"; \
	if [ -z "$$ran" ] || [ "$$ran" -eq 0 ]; then \
	  echo "make: FAIL: no end-to-end test ran" >&2; exit 1; \
	fi; \
	echo "make: $$ran end-to-end test(s) passed under spin"

.PHONY: help up down db-start db-shell db-migrate health ingest digests deliveries maintenance logs test test-steps e2e e2e-or-skip \
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
	if [ -z "$${KEEMU_AUTH_KEYS:-}" ] && ! { [ -f .env ] && grep -Eq '^[[:space:]]*(export[[:space:]]+)?KEEMU_AUTH_KEYS=' .env; }; then \
	  echo "make up: WARNING: KEEMU_AUTH_KEYS is not set; signing access tokens with the development key 'dev'" >&2; \
	  token_args+=(--variable "auth_keys=$(DEV_AUTH_KEYS)"); \
	fi; \
	echo "make up: spin up on http://$(LISTEN) (database $$db_host)"; \
	exec env MALLOC_ARENA_MAX="$${MALLOC_ARENA_MAX:-2}" '$(SPIN)' up --listen $(LISTEN) --runtime-config-file runtime-config.toml \
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

# `make ingest`: ingestion rounds on the running app (make up), until a round finds nothing
# due (at most INGEST_ROUNDS; INGEST_ROUNDS=1 for one round). The token comes from
# KEEMU_API_TOKEN, else .env, else the development token; curl reads it from stdin (-K -),
# so it never shows in the process list.
INGEST_ROUNDS ?= 20

# Sets the shell variable `token` to the operator token (make ingest, make maintenance):
# KEEMU_API_TOKEN, else .env, else the development token.
OPERATOR_TOKEN = token="$${KEEMU_API_TOKEN:-}"; \
	if [ -z "$$token" ] && [ -f .env ]; then \
	  token="$$(sed -n 's/^[[:space:]]*\(export[[:space:]][[:space:]]*\)\{0,1\}KEEMU_API_TOKEN=//p' .env | tail -n 1 | tr -d "\"'\r")"; \
	fi; \
	token="$${token:-$(DEV_API_TOKEN)}"

# Runs rounds of POST /internal/$(1) on the running app until one claims nothing (at most
# INGEST_ROUNDS), printing each answer; `make $(1)` names the target in its messages.
define ROUNDS_UNTIL_DONE
	@$(OPERATOR_TOKEN); \
	for round in $$(seq 1 $(INGEST_ROUNDS)); do \
	  body="$$(printf 'header = "Authorization: Bearer %s"\n' "$$token" \
	    | curl -sS --fail-with-body -K - -X POST "http://$(LISTEN)/internal/$(1)")" \
	    || { echo "make $(1): POST /internal/$(1) failed: $$body" >&2; exit 1; }; \
	  echo "make $(1): round $$round: $$body"; \
	  claimed="$$(printf '%s' "$$body" | sed -n 's/.*"claimed":\([0-9][0-9]*\).*/\1/p')"; \
	  [ "$${claimed:-0}" -gt 0 ] || break; \
	done
endef

ingest: ## Run ingestion rounds (POST /internal/ingest) on the running app until nothing is due
	$(call ROUNDS_UNTIL_DONE,ingest)

digests: ## Run digest rounds (POST /internal/digests) on the running app until nobody is due
	$(call ROUNDS_UNTIL_DONE,digests)

deliveries: ## Run e-mail rounds (POST /internal/deliveries) on the running app until nothing is due (needs mail_api_token)
	$(call ROUNDS_UNTIL_DONE,deliveries)

maintenance: ## One maintenance round (POST /internal/maintenance) on the running app
	@$(OPERATOR_TOKEN); \
	printf 'header = "Authorization: Bearer %s"\n' "$$token" \
	  | curl -sS --fail-with-body -K - -X POST "http://$(LISTEN)/internal/maintenance"; echo

health: ## curl the running app's /health
	curl -fsS -i http://$(LISTEN)/health

logs: ## Follow the components' stdout/stderr written by `spin up` (make up) under .spin/logs/
	@echo "make logs: following $(SPIN_LOGS)/{$(shell echo $(COMPONENT_IDS) | tr ' ' ',')}_{stdout,stderr}.txt (Ctrl-C to stop)"
	@[ -d '$(SPIN_LOGS)' ] || echo "make logs: $(SPIN_LOGS) does not exist yet; waiting for 'make up' to write it"
	@exec tail -n 20 -F $(foreach c,$(COMPONENT_IDS),$(SPIN_LOGS)/$(c)_stdout.txt $(SPIN_LOGS)/$(c)_stderr.txt)

test: ## Everything CI runs: fmt, native tests (throwaway PostgreSQL), wasm build, clippy, manifest, e2e under spin
	@scripts/dev-db.sh test-run KEEMU_TEST_DATABASE_URL $(MAKE) --no-print-directory -f $(SELF) test-steps

test-steps: wasm-target ## The `test` steps against an existing KEEMU_TEST_DATABASE_URL
	@[ -n "$${KEEMU_TEST_DATABASE_URL:-}" ] || { echo "make: KEEMU_TEST_DATABASE_URL is not set (use 'make test')" >&2; exit 1; }
	cargo fmt --all --check
	cargo test --workspace --exclude keemu-health --exclude keemu-api --exclude keemu-ingest --exclude keemu-mail
	$(CARGO_WASM_BUILD)
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p keemu -p keemu-spin-glue -p keemu-health -p keemu-api -p keemu-ingest -p keemu-mail -- -D warnings
	python3 scripts/check-manifest.py --self-test
	python3 scripts/check-manifest.py
	@for f in $(WASMS); do printf '%s: %s bytes\n' "$$f" "$$(wc -c <"$$f" | tr -d ' ')"; done
	@$(MAKE) --no-print-directory -f $(SELF) e2e-or-skip

# The e2e step of `make test`: runs them where spin is found. Without spin, CI (CI=true)
# fails; elsewhere the step says plainly that it was skipped.
e2e-or-skip:
	@if [ -n '$(SPIN)' ]; then \
	  $(RUN_E2E); \
	else \
	  case "$${CI:-}" in \
	    true|TRUE|True|1|yes) \
	      echo "make: FAIL: CI=$$CI but the spin CLI (Spin 4) was not found (not on PATH, not at $(ROOT)/../shared/spin/spin): the end-to-end tests did not run" >&2; \
	      exit 1;; \
	  esac; \
	  echo "make: ******** e2e SKIPPED: the spin CLI (Spin 4) was not found on PATH nor at $(ROOT)/../shared/spin/spin."; \
	  echo "make: ******** The end-to-end tests (tests/e2e/) did NOT run; everything else passed. Install Spin (https://spinframework.dev/install) and run 'make e2e'."; \
	fi

e2e: wasm-target ## End-to-end tests under a real `spin up` (needs spin; two PostgreSQL + spin pairs)
	@$(REQUIRE_SPIN)
	$(CARGO_WASM_BUILD)
	@$(RUN_E2E)

fmt: ## Format the code
	cargo fmt --all

lint: wasm-target ## fmt check, clippy (native and wasm), manifest check without sources
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p keemu -p keemu-spin-glue -p keemu-health -p keemu-api -p keemu-ingest -p keemu-mail -- -D warnings
	python3 scripts/check-manifest.py --no-sources

build: wasm-target ## Build both components for wasm32-wasip2 (release) and print their sizes
	$(CARGO_WASM_BUILD)
	@for f in $(WASMS); do printf '%s: %s bytes\n' "$$f" "$$(wc -c <"$$f" | tr -d ' ')"; done

check-manifest: ## Check spin.toml (self-test, then against the built components)
	python3 scripts/check-manifest.py --self-test
	python3 scripts/check-manifest.py

# --- Benchmarks (bench/run.sh; see bench/README.md) ---------------------------------------
# Kept in a block of their own. Needs spin (PATH or ../shared/spin/spin), PostgreSQL server
# binaries, and wrk (installed with apt-get when missing and running as root).

.PHONY: bench bench-large bench-digests

bench: wasm-target ## Load test under real `spin up` beside the floor app; writes bench/results.md
	@bench/run.sh

bench-large: wasm-target ## `make bench` with 1,000,000 users loaded by SQL (first page vs after=900000)
	@BENCH_USERS=$${BENCH_USERS:-1000000} BENCH_OUT=$${BENCH_OUT:-bench/results-large.md} bench/run.sh

bench-digests: wasm-target ## Digests built per second: 10,000 users x 20 subscriptions, 1,000,000 items; writes bench/results-digests.md
	@BENCH_SCENARIOS=$${BENCH_SCENARIOS:-digests} BENCH_OUT=$${BENCH_OUT:-bench/results-digests.md} bench/run.sh
