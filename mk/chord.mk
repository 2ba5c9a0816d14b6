# The Chord ring. Included by the main Makefile: `include mk/chord.mk`.

N ?= 8
CHORD_BITS ?= 32

.PHONY: run-ring chord-test chord-hops

# A local ring of N nodes on 127.0.0.1:7000 and up; Ctrl-C makes every node leave
# gracefully and stops them all. CHORD_BITS=6 gives ids small enough to draw.
run-ring:
	N=$(N) BITS=$(CHORD_BITS) scripts/run-ring.sh

# The chord unit tests and integration tests only.
chord-test:
	cargo test --lib chord
	cargo test --test chord_ring --test chord_churn --test chord_failure \
		--test chord_bad_input --test chord_cli

# Mean lookup hops for N = 8, 16, 32, 64 beside the paper's ½·log2 N (docs/CHORD.md).
chord-hops:
	cargo run --release --example chord_hops
