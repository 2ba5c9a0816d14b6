# feira: every command a newcomer needs. `make help` lists them.
#
# The server never runs on the tracked demo data: `run-server` copies data/ to
# state/ (ignored by git) the first time, and serves from there.

CARGO ?= cargo
ADDR  ?= 127.0.0.1:7878
STATE ?= state

.PHONY: help build run-server run-client reset-state test check fmt clippy bench

help:
	@echo "make run-server   start the server on a copy of the demo data (state/)"
	@echo "make run-client   open the interactive client"
	@echo "make test         formatting, lints and every test (what CI runs)"
	@echo "make bench        measure throughput and latency; writes docs/BENCHMARKS.md"
	@echo "make reset-state  throw away state/ and start again from data/"

build:
	$(CARGO) build --release --bins

$(STATE):
	cp -r data $(STATE)
	rm -f $(STATE)/journal.csv

run-server: build $(STATE)
	RUST_LOG=$${RUST_LOG:-info} ./target/release/feira-server --addr $(ADDR) --data $(STATE)

run-client: build
	./target/release/feira-cli --addr $(ADDR)

reset-state:
	rm -rf $(STATE)

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

# Everything CI checks. Tests run with nextest when it is installed, else cargo test.
# The examples are built first: tests/demos.rs runs them as programs.
test: fmt clippy
	$(CARGO) build --examples
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --all-targets --no-fail-fast && $(CARGO) test --doc; \
	else \
		$(CARGO) test --all-targets --no-fail-fast && $(CARGO) test --doc; \
	fi

-include mk/*.mk
