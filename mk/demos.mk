# The classroom demos: see docs/DEMOS.md. The top-level Makefile includes this file.
# Both run in release mode (what the class sees) and finish by themselves in seconds;
# `cargo test` runs them too (tests/demos.rs), in debug mode. `make build` builds them
# before class; otherwise the first run builds them here, with cargo's progress shown.

CARGO ?= cargo

.PHONY: demo-race demo-deadlock

## demo-race: lost updates on a shared stock without a lock, none with one
demo-race:
	$(CARGO) run --release --example demo_race

## demo-deadlock: two lock orders deadlock, a watchdog says so; one lock order does not
demo-deadlock:
	$(CARGO) run --release --example demo_deadlock
