# feira: every command a newcomer needs. `make help` lists them all.
#
# The server never runs on the tracked demo data: `run-server` copies data/ to
# state/ (ignored by git) the first time, and serves from there.
#
# Where the server listens and the client looks: FEIRA_ADDR from the environment, so
# that two people on one machine each pick a port once (`export FEIRA_ADDR=127.0.0.1:7979`)
# and every command follows; `make run-server ADDR=...` wins over it.

CARGO ?= cargo
ADDR  ?= $(or $(FEIRA_ADDR),127.0.0.1:7878)
STATE ?= state
# Also serve the web door here (the time service, JSON, the live dashboard: docs/HTTP.md):
# `make run-server HTTP_ADDR=127.0.0.1:8080` prints the dashboard's address and token.
HTTP_ADDR ?=
# Where `make build` puts the programs the class runs.
BIN_DIR := ./target/release

.PHONY: help build run-server run-client reset-state test fmt clippy

## help: this list
help:
	@echo "make TARGET, where TARGET is one of:"
	@sed -n 's/^## \([a-z-]*\): \(.*\)/  \1|\2/p' $(MAKEFILE_LIST) \
		| awk -F'|' '{ printf "%-16s %s\n", $$1, $$2 }'
	@echo "The server's address: ADDR=host:port, or FEIRA_ADDR in the environment (now $(ADDR))."

## build: the programs and the demos in release mode (run it before class: minutes the first time)
build:
	$(CARGO) build --release --bins --examples

$(STATE):
	cp -r data $(STATE)
	rm -f $(STATE)/journal.csv

# `exec`: the server replaces the shell, so Ctrl-C reaches it alone and its clean exit
# is make's (no `make: *** ... Interrupt` after a graceful shutdown).
## run-server: start the server on a copy of the demo data (state/); HTTP_ADDR=... adds the dashboard; Ctrl-C stops it
run-server: build $(STATE)
	RUST_LOG=$${RUST_LOG:-info} exec $(BIN_DIR)/feira-server --addr $(ADDR) --data $(STATE) \
		$(if $(HTTP_ADDR),--http-addr $(HTTP_ADDR))

## run-client: open the interactive client
run-client: build
	exec $(BIN_DIR)/feira-cli --addr $(ADDR)

## reset-state: throw away state/ and start again from data/
reset-state:
	rm -rf $(STATE)

## fmt: check the formatting (cargo fmt)
fmt:
	$(CARGO) fmt --all -- --check

## clippy: the lints, with warnings denied
clippy:
	$(CARGO) clippy --all-targets -- -D warnings

# Everything CI checks. Tests run with nextest when it is installed, else cargo test.
# The examples are built first: tests/demos.rs runs them as programs.
## test: formatting, lints and every test, without and with the grpc feature (what CI runs)
test: fmt clippy
	$(CARGO) build --examples
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --all-targets --no-fail-fast && $(CARGO) test --doc; \
	else \
		$(CARGO) test --all-targets --no-fail-fast && $(CARGO) test --doc; \
	fi
	@$(MAKE) --no-print-directory test-grpc

-include mk/*.mk
