# Skycast: `make dev` runs the platform locally, `make test` runs every test.
# Both install what is missing first (moto into .venv/, ffmpeg from Debian),
# and do nothing more on a second run.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV         := .venv
MOTO         := $(VENV)/bin/moto_server
MOTO_VERSION := 5.2.5
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CARGO        ?= cargo

.PHONY: help deps dev test bench openapi fmt lint fuzz clean

help:
	@echo "make dev      run the whole platform locally (Ctrl-C stops it)"
	@echo "make test     run every test"
	@echo "make bench    run the benchmarks"
	@echo "make openapi  regenerate openapi.json from the code"
	@echo "make lint     rustfmt --check and clippy"
	@echo "make fuzz     fuzz the fMP4 parser for a minute (needs cargo-fuzz)"

deps: $(MOTO) ffmpeg

$(MOTO):
	@echo "installing moto $(MOTO_VERSION) into $(VENV)/"
	@python3 -m venv $(VENV) 2>/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv >/dev/null && python3 -m venv $(VENV); }
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server,dynamodb,s3,sqs]==$(MOTO_VERSION)'
	@test -x $(MOTO)

ffmpeg:
	@command -v ffmpeg >/dev/null || { echo "installing ffmpeg from Debian"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg >/dev/null; }

dev: deps
	$(CARGO) build --bin skycast-dev
	exec ./target/debug/skycast-dev

test: deps
	$(CARGO) test --workspace
	@# The fuzz target is built (not run): it must keep compiling against the parser.
	$(CARGO) build --manifest-path fuzz/Cargo.toml --target-dir target

bench: deps
	$(CARGO) build --release --workspace --bins
	./target/release/bench
	./target/release/bench_ingest
	./target/release/bench_recording

openapi:
	$(CARGO) run -q --bin skycast-dev -- openapi > openapi.json

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# cargo-fuzz instruments with nightly flags; RUSTC_BOOTSTRAP lets the one
# stable toolchain here accept them.
fuzz:
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run fmp4 -- -max_total_time=$${FUZZ_SECONDS:-60}

clean:
	$(CARGO) clean
	rm -rf $(VENV)
