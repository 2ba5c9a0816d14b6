# The Chord ring. Included by the main Makefile: `include mk/chord.mk`.

N ?= 8
CHORD_BITS ?= 32

.PHONY: run-ring chord-test chord-hops chord-failures

# A local ring of N nodes on 127.0.0.1:7000 and up (BASE_PORT=7100 moves it); Ctrl-C
# makes every node leave gracefully and stops them all. CHORD_BITS=6 gives ids small
# enough to draw. The script builds the release feira-chord (what `make build` builds);
# `exec` gives Ctrl-C to the script alone, so its clean exit is make's.
## run-ring: a Chord ring of N nodes on loopback (N=8 CHORD_BITS=6 BASE_PORT=7000); Ctrl-C stops it
run-ring:
	N=$(N) BITS=$(CHORD_BITS) BIN_DIR=$(BIN_DIR) CARGO=$(CARGO) exec scripts/run-ring.sh

## chord-test: the Chord tests only
chord-test:
	$(CARGO) test --lib chord
	$(CARGO) test --test chord_ring --test chord_churn --test chord_failure --test chord_replication \
		--test chord_replica_input --test chord_bad_input --test chord_cli

## chord-hops: mean lookup hops for N = 8 to 64 beside the paper's ½·log2 N (docs/CHORD.md)
chord-hops:
	$(CARGO) run --release --example chord_hops

## chord-failures: keys lost and lookups failed when nodes crash at once or churn, r = 1..3 (docs/CHORD.md)
chord-failures:
	$(CARGO) run --release --example chord_failures
