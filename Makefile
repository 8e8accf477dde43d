# Skycast: `make dev` runs the platform locally, `make test` runs every test.
# Both install what is missing first (moto into .venv/, ffmpeg and Node.js
# from Debian), and do nothing more on a second run.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV         := .venv
MOTO         := $(VENV)/bin/moto_server
MOTO_VERSION := 5.2.5
# The relay's Python example (examples/relay_client.py) and its test.
WEBSOCKETS   := $(VENV)/.websockets-17.4
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CARGO        ?= cargo

# Deploy tooling lives apart from the emulator's venv, so neither's pins move the other's.
TOOLS            := .tools
CHECKOV          := $(TOOLS)/bin/checkov
CHECKOV_VERSION  := 3.3.30
CARGO_LAMBDA     := $(TOOLS)/bin/cargo-lambda
CARGO_LAMBDA_VERSION := 1.9.2
HCLFMT           := $(TOOLS)/bin/hclfmt
FUNCTIONS        := auth streams sessions vod lifecycle recorder catalog edge-sync webhooks webhook-sender
LAMBDA_ARCH      ?= arm64
LAMBDA_TARGET    := $(if $(filter arm64,$(LAMBDA_ARCH)),aarch64,x86_64)-unknown-linux-gnu

.PHONY: help deps node ffmpeg media-tools hls-check web chromium dev test bench openapi fmt lint lint-infra package fuzz clean

help:
	@echo "make dev      run the whole platform locally (Ctrl-C stops it)"
	@echo "make test     run every test"
	@echo "make bench    run the benchmarks"
	@echo "make openapi  regenerate openapi.json from the code"
	@echo "make lint     rustfmt --check, clippy, and the Terraform checks (fmt, checkov)"
	@echo "make package  build every Lambda as target/lambda/<name>/bootstrap.zip (LAMBDA_ARCH=arm64|x86_64)"
	@echo "make fuzz     fuzz the fMP4 parser and the RTMP server, a minute each (needs cargo-fuzz)"

deps: $(MOTO) $(WEBSOCKETS) ffmpeg node media-tools hls-check

$(MOTO):
	@echo "installing moto $(MOTO_VERSION) into $(VENV)/"
	@python3 -m venv $(VENV) 2>/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv >/dev/null && python3 -m venv $(VENV); }
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server,dynamodb,s3,sqs]==$(MOTO_VERSION)'
	@test -x $(MOTO)

$(WEBSOCKETS): | $(MOTO)
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check 'websockets==17.4'
	@touch $@

ffmpeg:
	@command -v ffmpeg >/dev/null || { echo "installing ffmpeg from Debian"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg >/dev/null; }

# libsrt is what the node speaks SRT with (linked); srt-live-transmit and
# GStreamer (srtsink, rtmp2sink) are encoders the tests publish with.
media-tools:
	@{ test -e /usr/include/srt/srt.h && command -v srt-live-transmit && command -v gst-launch-1.0 \
		&& gst-inspect-1.0 srtsink && gst-inspect-1.0 rtmp2sink && gst-inspect-1.0 x264enc && gst-inspect-1.0 voaacenc; } >/dev/null 2>&1 \
		|| { echo "installing libsrt, srt-tools and GStreamer from Debian"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
		libsrt-openssl-dev srt-tools gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly >/dev/null; }

# The CloudFront Function (infra/edge/) is tested with Node's own test runner.
node:
	@command -v node >/dev/null || { echo "installing Node.js from Debian"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs >/dev/null; }
	@command -v npm >/dev/null || { echo "installing npm from Debian"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm >/dev/null; }

# hls-parser (strict mode) checks the node's playlists in the tests; pinned by the committed lockfile.
hls-check: node
	@test -d tests/hls/node_modules/hls-parser || npm ci --prefix tests/hls --no-audit --no-fund --loglevel=error

# The web app (web/): npm packages from the committed lockfile, and a build
# whenever a source changed since the last one.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/package.json web/tsconfig.json web/vite.config.ts

web/node_modules/.package-lock.json: web/package-lock.json | node
	npm ci --prefix web --no-audit --no-fund --loglevel=error

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	npm run --prefix web --silent build

web: web/dist/index.html

# The browser the web app's tests drive (through playwright-core).
chromium:
	@command -v chromium >/dev/null || { echo "installing Chromium from Debian"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

dev: deps web
	$(CARGO) build --bin skycast-dev
	exec ./target/debug/skycast-dev

test: deps web chromium
	$(CARGO) test --workspace
	@# The edge's JavaScript, against the vectors the Rust edge passes too.
	node --test infra/edge/
	@# The fuzz targets are built (not run): they must keep compiling against the parsers.
	$(CARGO) build --manifest-path fuzz/Cargo.toml --target-dir target

bench: deps web chromium
	$(CARGO) build --release --workspace --bins
	./target/release/bench
	./target/release/bench_ingest
	./target/release/bench_recording
	./target/release/bench_web
	./target/release/bench_relay
	./target/release/bench_webhooks

openapi:
	$(CARGO) run -q --bin skycast-dev -- openapi > openapi.json

fmt:
	$(CARGO) fmt --all

lint: lint-infra
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

$(TOOLS)/bin/pip:
	@python3 -m venv $(TOOLS) 2>/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv >/dev/null && python3 -m venv $(TOOLS); }

$(CHECKOV): | $(TOOLS)/bin/pip
	@echo "installing checkov $(CHECKOV_VERSION) into $(TOOLS)/"
	@$(TOOLS)/bin/pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'
	@test -x $@

# `terraform fmt` is HCL's canonical format (hclwrite); Terraform itself is
# not in the package registries, so CI formats with hclfmt, built from
# Debian's source of the same library. With terraform on PATH, that is used.
$(HCLFMT):
	@command -v go >/dev/null && test -d /usr/share/gocode/src/github.com/hashicorp/hcl/v2 || { echo "installing Go and HCL from Debian"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq golang-go golang-github-hashicorp-hcl-v2-dev >/dev/null; }
	@mkdir -p $(TOOLS)/bin
	GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$(CURDIR)/$(TOOLS)/go-cache go build -o $@ github.com/hashicorp/hcl/v2/cmd/hclfmt

# Offline: no provider downloads (`terraform validate` is for users, see infra/README.md).
lint-infra: $(CHECKOV)
	@if command -v terraform >/dev/null; then terraform fmt -check -recursive infra && echo "infra/*.tf: formatted (terraform fmt)"; \
	else $(MAKE) --no-print-directory $(HCLFMT) && $(HCLFMT) -check -require-no-change infra/*.tf >/dev/null && echo "infra/*.tf: formatted (hclfmt)"; fi
	$(CHECKOV) --directory infra --framework terraform --quiet --compact --skip-download

$(CARGO_LAMBDA): | $(TOOLS)/bin/pip
	@echo "installing cargo-lambda $(CARGO_LAMBDA_VERSION) (with zig) into $(TOOLS)/"
	@$(TOOLS)/bin/pip install --quiet --disable-pip-version-check 'cargo-lambda==$(CARGO_LAMBDA_VERSION)'
	@test -x $@

# Every function as <name>/bootstrap.zip for provided.al2023, cross-linked by zig.
package: $(CARGO_LAMBDA)
	@rustup target list --installed 2>/dev/null | grep -qx $(LAMBDA_TARGET) || rustup target add $(LAMBDA_TARGET)
	PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" $(CARGO_LAMBDA) lambda build --release --$(LAMBDA_ARCH) \
		--output-format zip --lambda-dir target/lambda $(addprefix --bin ,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do test -s target/lambda/$$f/bootstrap.zip || { echo "missing target/lambda/$$f/bootstrap.zip"; exit 1; }; done
	@ls -l target/lambda/*/bootstrap.zip

# cargo-fuzz instruments with nightly flags; RUSTC_BOOTSTRAP lets the one
# stable toolchain here accept them.
fuzz:
	cd fuzz && for t in fmp4 rtmp; do RUSTC_BOOTSTRAP=1 cargo fuzz run $$t -- -max_total_time=$${FUZZ_SECONDS:-60} || exit 1; done

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(TOOLS)
