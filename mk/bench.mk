# make bench: build release binaries, then scripts/bench.sh runs feira-server and
# redis-server on loopback, drives them with feira-bench, and writes docs/BENCHMARKS.md
# and docs/bench-chart.svg. About 5 to 10 minutes on 2 cores. Built with the `grpc`
# feature, so that step 8 puts the two doors (sockets and gRPC) side by side.
# Shorter trial run, leaving docs/ alone: make bench BENCH_DURATION=1s
# BENCH_CONNECTIONS="1 50" BENCH_HOLD=500 BENCH_ROUNDS=1 BENCH_ABLATION_DURATION=1s
# BENCH_OUT=/tmp/x-bench

BENCH_ENV = $(if $(BENCH_DURATION),BENCH_DURATION=$(BENCH_DURATION)) \
            $(if $(BENCH_CONNECTIONS),BENCH_CONNECTIONS="$(BENCH_CONNECTIONS)") \
            $(if $(BENCH_HOLD),BENCH_HOLD=$(BENCH_HOLD)) \
            $(if $(BENCH_ROUNDS),BENCH_ROUNDS=$(BENCH_ROUNDS)) \
            $(if $(BENCH_ABLATION_DURATION),BENCH_ABLATION_DURATION=$(BENCH_ABLATION_DURATION)) \
            $(if $(BENCH_DOORS_CONNECTIONS),BENCH_DOORS_CONNECTIONS="$(BENCH_DOORS_CONNECTIONS)") \
            $(if $(BENCH_IDLE),BENCH_IDLE=$(BENCH_IDLE)) \
            $(if $(BENCH_OUT),BENCH_OUT=$(BENCH_OUT))

.PHONY: bench
## bench: throughput and latency against redis-server; writes docs/BENCHMARKS.md (about 9.5 min, plus the build)
bench:
	$(CARGO) build --release --features grpc --bins
	$(BENCH_ENV) scripts/bench.sh
