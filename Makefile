# otpgate: `make run` builds and serves on http://127.0.0.1:3000; `make test` runs every check.
# Both install what is missing first (see `tools`). Nothing is downloaded from GitHub:
# cargo-leptos is built with `no_downloads` and finds its tools on PATH and in node_modules.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

CARGO_LEPTOS_VERSION := 0.3.10
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/[^0-9.]/, "", $$0); print; exit}' Cargo.lock)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export PATH := $(HOME)/.cargo/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: run test tools lint unit e2e schema soak soak-short build bench bench-memory bench-history clean-data

## Build the release and serve it with SQLite under ./data and the dev inbox on.
run: tools build
	OTPGATE_ENV=$${OTPGATE_ENV:-development} OTPGATE_SITE_ROOT=target/site ./target/release/otpgate serve

## Every check: formatting, clippy (server and WASM), unit and integration tests, browser
## tests, schema fuzzing of the native API, a one-minute multi-instance soak.
test: tools lint unit build e2e schema soak-short

build:
	cargo leptos build --release

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --exclude frontend --all-targets --features app/ssr -- -D warnings
	cargo clippy -p frontend -p app --target wasm32-unknown-unknown --features app/hydrate -- -D warnings

unit:
	cargo test --workspace --exclude frontend

e2e:
	node --test --test-concurrency=1 end2end/

## schemathesis against /v1/openapi.json of the release build (needs `build`); installs
## schemathesis from PyPI into target/schemathesis on first use.
schema:
	server/tests/schema/run.sh

## Multi-instance soak: 3 instances on one PostgreSQL database, one killed with SIGKILL
## and restarted every minute, the end state compared with the load generator's model;
## `SOAK=…` seconds (default 600). `soak-short` is the one-minute form `make test` runs
## (needs `build`).
SOAK ?= 600
soak: build
	cargo run --release -p server --example soak -- $(SOAK) 60

soak-short:
	cargo run --release -p server --example soak -- 60 20

## Load benchmark (SQLite and PostgreSQL); figures in the README's Performance section.
bench:
	cargo build --release -p server --bin otpgate
	cargo run --release -p server --example bench -- both 5

## Server memory over 1,000,000 creates on SQLite (RSS at each tenth); `CREATES=…` for
## another count.
CREATES ?= 1000000
bench-memory:
	cargo build --release -p server --bin otpgate
	cargo run --release -p server --example bench -- memory $(CREATES)

## Stats and history at volume (SQLite and PostgreSQL): seeds N verifications (default
## 10M; `make bench-history N=100000`) and times the dashboard's reads; figures in the
## README's Performance section.
N ?= 10000000
bench-history:
	cargo run --release -p server --example history -- both $(N)

## Installs each missing tool; every step is skipped when already present.
tools:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@cargo leptos --version 2>/dev/null | grep -q "$(CARGO_LEPTOS_VERSION)" || \
		cargo install --locked cargo-leptos --version $(CARGO_LEPTOS_VERSION) --features no_downloads
	@wasm-bindgen --version 2>/dev/null | grep -q "$(WASM_BINDGEN_VERSION)" || \
		cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)
	@[ -x node_modules/.bin/tailwindcss ] && [ -x node_modules/.bin/wasm-opt ] && [ -d node_modules/playwright-core ] && [ -d node_modules/axe-core ] && [ -d node_modules/jsqr ] && [ -d node_modules/otpauth ] && [ -d node_modules/pngjs ] || \
		npm install --no-audit --no-fund
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }
	@if dpkg -s binaryen >/dev/null 2>&1; then \
		echo "Debian's binaryen (old wasm-opt) breaks hydration; removing it"; $(SUDO) apt-get remove -y binaryen; fi

## Removes the local database and keys (a fresh start for `make run`).
clean-data:
	rm -rf data
