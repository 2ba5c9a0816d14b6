#!/usr/bin/env bash
# Starts a local Chord ring of N nodes on 127.0.0.1 for the classroom, prints the
# ring once it has formed, and keeps it running until Ctrl-C (or SIGTERM): then
# every node leaves gracefully and the script waits for all of them to exit.
#
#   N=8 BITS=6 scripts/run-ring.sh        (or: make run-ring N=8 CHORD_BITS=6)
#
# With few bits two addresses can hash to the same id; such a node refuses to join
# ("id ... is already taken") and the script simply tries the next port.
# Logs go to $LOG_DIR (a fresh temporary directory unless set). BASE_PORT moves the
# ring (7000 by default), for two rings on one machine.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-8}
BITS=${BITS:-32}
BASE_PORT=${BASE_PORT:-7000}
STABILIZE_MS=${STABILIZE_MS:-200}
LOG_DIR=${LOG_DIR:-$(mktemp -d -t feira-ring.XXXXXX)}
# The release build, as `make build` makes it: built here too when missing or out of
# date, with cargo's progress on the terminal (a no-op when `make build` ran).
BIN=${BIN_DIR:-target/release}/feira-chord

"${CARGO:-cargo}" build --release --bin feira-chord

pids=()
stop() {
    trap - INT TERM
    echo
    echo "stopping ${#pids[@]} nodes (each leaves the ring gracefully)"
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait
    echo "all nodes stopped; logs in $LOG_DIR"
    exit 0
}
trap stop INT TERM

# Waits (bounded) until the ring, seen from the first node, has $1 nodes.
wait_for_ring() {
    for _ in $(seq 1 200); do
        if "$BIN" ring --via "$first" 2>/dev/null | grep -q "^OK $1 nodes"; then
            return
        fi
        sleep 0.1
    done
}

first=""
port=$BASE_PORT
last_port=$((BASE_PORT + 4 * N))
while [ "${#pids[@]}" -lt "$N" ]; do
    if [ "$port" -gt "$last_port" ]; then
        echo "gave up: could not start $N nodes on ports $BASE_PORT-$last_port" >&2
        stop
    fi
    addr="127.0.0.1:$port"
    out="$LOG_DIR/node-$port.out"
    log="$LOG_DIR/node-$port.log"
    args=(node --addr "$addr" --bits "$BITS" --stabilize-ms "$STABILIZE_MS")
    if [ -n "$first" ]; then
        args+=(--join "$first")
    fi
    "$BIN" "${args[@]}" >"$out" 2>"$log" &
    pid=$!
    # Up when it prints its one line; failed when it exits first.
    until [ -s "$out" ] || ! kill -0 "$pid" 2>/dev/null; do
        sleep 0.05
    done
    if [ -s "$out" ]; then
        pids+=("$pid")
        first=${first:-$addr}
        echo "started $(cat "$out") (pid $pid)"
        # Let the ring take this node in before the next one joins: a join checks that
        # its id is free by a lookup, which only sees nodes the ring has stabilised.
        wait_for_ring "${#pids[@]}"
    else
        wait "$pid" || true
        echo "port $port skipped: $(tail -n 1 "$log")"
    fi
    port=$((port + 1))
done

wait_for_ring "$N"
echo
echo "RING, as $first sees it:"
"$BIN" ring --via "$first" || true
echo
echo "Try: $BIN lookup apple --via $first    (fingers, put, get, keys, leave)"
echo "Logs: $LOG_DIR. Ctrl-C stops the ring."
wait
