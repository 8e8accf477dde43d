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

.PHONY: help deps dev test bench openapi fmt lint clean

help:
	@echo "make dev      run the whole platform locally (Ctrl-C stops it)"
	@echo "make test     run every test"
	@echo "make bench    run the benchmarks"
	@echo "make openapi  regenerate openapi.json from the code"
	@echo "make lint     rustfmt --check and clippy"

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

bench: deps
	$(CARGO) build --release --workspace --bins
	./target/release/bench
	./target/release/bench_ingest

openapi:
	$(CARGO) run -q --bin skycast-dev -- openapi > openapi.json

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(VENV)
