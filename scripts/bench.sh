#!/usr/bin/env bash
# make bench: measure feira against redis-server on this machine, and write
# docs/BENCHMARKS.md and docs/bench-chart.svg from the figures.
#
# Every server runs on a temporary copy of data/ on loopback ports and is stopped at
# the end (also on Ctrl-C). The steps:
#   1. the matrix: PING, PRODUCT, ORDER on feira and inline PING on redis-server at
#      1, 10, 50, 200, 500 and 1,000 connections (same client, same machine, same run);
#   2. ORDER at 50 connections on a server that loaded 1,000 existing orders and on one
#      that loaded 1,000,000 (rounds alternate between the two);
#   3. redis INCRBY with appendfsync always (the durable-write yardstick), and TRANSFER
#      and the mixed workload, rounds alternating between the two; each round also runs
#      the durable writes on one hot row (every client pays the same payee, every ORDER
#      buys the same product) beside the spread rows (each pays the next account along);
#   3b. the ablation: TRANSFER at 50 connections on a fresh server with each speed layer
#      switched off in turn (every layer on; --reply-path plain; --group-commit off;
#      --prezero off; --checkpoint rewrite; --csv crate; --plain), same run;
#   4. slowloris: 1,000 connections trickling a byte a second;
#   5. 10,000 logged-in connections held at once, with the server's memory per connection;
#   6. login under flood: 200 connections from 127.0.0.2 loop wrong passwords on made-up
#      names while a real user from 127.0.0.3 logs in again and again (target: within a second);
#   7. peer-to-peer: a 256 MiB file fetched from a peer over loopback;
#   8. the two doors (with a build that has the `grpc` feature, as make bench makes):
#      PRODUCT/GetProduct and ORDER/PlaceOrder over the line protocol and over gRPC on
#      one server at 1, 50 and 500 clients, with the bytes on the wire and the server's
#      CPU per request; then 1,000 idle clients at each door and the memory they cost.
#
# Knobs (environment): BENCH_DURATION (3s), BENCH_CONNECTIONS ("1 10 50 200 500 1000"),
# BENCH_HOLD (10000), BENCH_ROUNDS (3), BENCH_FLOOD (200), BENCH_FLOOD_DURATION (10s),
# BENCH_ABLATION_DURATION (3s), BENCH_DOORS_CONNECTIONS ("1 50 500"), BENCH_IDLE (1000),
# BENCH_OUT (docs/BENCHMARKS.md).
# The raw CSV files are copied to bench-results/ beside BENCH_OUT (docs/bench-results/),
# and the chart goes beside it too; `scripts/bench.sh report` renders the Markdown again
# from them (after editing docs/bench-notes.md, say). A BENCH_OUT that is a directory
# (or names none with .md) gets BENCHMARKS.md inside it: a trial run with
# BENCH_OUT=/tmp/x-bench leaves docs/ alone.
set -uo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-3s}
CONNECTIONS=${BENCH_CONNECTIONS:-1 10 50 200 500 1000}
HOLD=${BENCH_HOLD:-10000}
ROUNDS=${BENCH_ROUNDS:-3}
FLOOD=${BENCH_FLOOD:-200}
FLOOD_DURATION=${BENCH_FLOOD_DURATION:-10s}
ABLATION_DURATION=${BENCH_ABLATION_DURATION:-3s}
DOORS_CONNECTIONS=${BENCH_DOORS_CONNECTIONS:-1 50 500}
IDLE=${BENCH_IDLE:-1000}
OUT=${BENCH_OUT:-docs/BENCHMARKS.md}
case "$OUT" in
*.md) ;;
*) OUT=$OUT/BENCHMARKS.md ;;
esac
OUT_DIR=$(dirname "$OUT")
mkdir -p "$OUT_DIR"
SAVED=$OUT_DIR/bench-results
CHART=$OUT_DIR/bench-chart.svg
BIN=target/release
# Renders docs/BENCHMARKS.md and the chart from docs/bench-results/ (the last run).
render() {
    {
        cat "$SAVED/header.md"
        "$BIN/feira-bench" summarize --results "$SAVED" --chart "$CHART" --chart-link bench-chart.svg
        echo
        if [ -f "$SAVED/p2p.txt" ]; then
            echo "## Peer-to-peer transfer: 256 MiB over loopback"
            echo
            echo "\`cargo run --release --example p2p_throughput -- --size-mib 256\` (target: at least"
            echo "1 GiB/s for the peer transfer, beside a plain TCP copy as the ceiling; docs/P2P.md explains"
            echo "each line):"
            echo
            echo '```'
            cat "$SAVED/p2p.txt"
            echo '```'
            echo
        fi
        if [ -f docs/bench-notes.md ]; then cat docs/bench-notes.md; fi
    } >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
}
if [ "${1:-}" = report ]; then
    render
    exit
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/feira-bench.XXXXXX")
RESULTS=$WORK/results
mkdir -p "$RESULTS"
COMMANDS=$RESULTS/commands.txt
PIDS=()
STARTED=$(date +%s)
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)

say() { printf '\n[bench %3ds] %s\n' $(($(date +%s) - STARTED)) "$*" >&2; }

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command and records it (without the temporary paths' noise) for the docs.
record() {
    echo "$*" | sed -e "s#$WORK#\$WORK#g" >>"$COMMANDS"
    "$@"
}

stop() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# Raise the open-files limit: every connection is a descriptor on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

# A free loopback port for redis (feira picks its own with port 0).
free_port() {
    local port=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        port=$((port + 1))
    done
    echo "$port"
}

# A copy of the demo data, optionally with N existing orders in orders.csv.
data_copy() {
    local dir=$1 orders=${2:-0}
    mkdir -p "$dir"
    cp data/users.csv data/products.csv data/orders.csv "$dir"/
    if [ "$orders" -gt 0 ]; then
        awk -v n="$orders" 'BEGIN {
            print "id,user,account,product,quantity,unit_price,total,created_at"
            for (i = 1; i <= n; i++)
                printf "%d,%s,Banana,1,0.75,0.75,2026-11-27T12:00:00Z\n", i, (i % 2 ? "alice,2" : "bob,3")
        }' >"$dir/orders.csv"
    fi
}

# Starts feira-server on port 0; sets FEIRA_PID and FEIRA_ADDR.
start_feira() {
    local name=$1 dir=$2
    shift 2
    RUST_LOG=info "$BIN/feira-server" --addr 127.0.0.1:0 --data "$dir" "$@" 2>"$WORK/$name.log" &
    FEIRA_PID=$!
    PIDS+=("$FEIRA_PID")
    local deadline=$(($(date +%s) + 120))
    FEIRA_ADDR=
    while [ -z "$FEIRA_ADDR" ]; do
        FEIRA_ADDR=$(grep -o 'listening on [0-9.:]*' "$WORK/$name.log" | head -1 | awk '{print $3}')
        if ! kill -0 "$FEIRA_PID" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
            echo "feira-server ($name) did not start:" >&2
            tail -5 "$WORK/$name.log" >&2
            exit 1
        fi
        [ -n "$FEIRA_ADDR" ] || sleep 0.1
    done
    echo "$name: feira-server pid $FEIRA_PID on $FEIRA_ADDR" >&2
}

# Starts redis-server with extra arguments; sets REDIS_PID and REDIS_ADDR.
start_redis() {
    local name=$1
    shift
    local port
    port=$(free_port 16379)
    mkdir -p "$WORK/$name"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$WORK/$name" --save '' \
        --maxclients 10000 "$@" >"$WORK/$name.log" 2>&1 &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    REDIS_ADDR=127.0.0.1:$port
    local tries=0
    until redis-cli -p "$port" ping >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ $tries -gt 100 ]; then
            echo "redis-server ($name) did not start" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "$name: redis-server pid $REDIS_PID on $REDIS_ADDR" >&2
}

bench() {
    record "$BIN/feira-bench" "$@" --out "$RESULTS/runs.csv" >&2
}

# --- redis-server: install it from the system's packages when it is missing ---
HAVE_REDIS=yes
if ! command -v redis-server >/dev/null 2>&1; then
    say "redis-server is missing: installing it with apt-get"
    SUDO=
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
    if ! { $SUDO apt-get install -y redis-server >/dev/null 2>&1 ||
        { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y redis-server >/dev/null 2>&1; }; }; then
        HAVE_REDIS=no
    fi
    command -v redis-server >/dev/null 2>&1 || HAVE_REDIS=no
fi
if [ "$HAVE_REDIS" = no ]; then
    echo "make bench: redis-server is not installed and could not be installed; the redis comparison is skipped" >&2
fi

# --- 1. the matrix ---
say "1. the matrix: feira PING/PRODUCT/ORDER and redis PING at $CONNECTIONS connections, $DURATION each"
data_copy "$WORK/main"
start_feira main "$WORK/main" --max-connections 2000
MAIN_PID=$FEIRA_PID MAIN_ADDR=$FEIRA_ADDR
if [ "$HAVE_REDIS" = yes ]; then
    start_redis redis-ping --appendonly no
    REDIS_PING_PID=$REDIS_PID REDIS_PING_ADDR=$REDIS_ADDR
fi
for c in $CONNECTIONS; do
    say "   $c connections"
    bench --addr "$MAIN_ADDR" -c "$c" -d "$DURATION" -t ping,product,order --label matrix
    if [ "$HAVE_REDIS" = yes ]; then
        bench --redis --addr "$REDIS_PING_ADDR" -c "$c" -d "$DURATION" -t ping --label matrix
    fi
done

# --- 2. ORDER with 1,000 vs 1,000,000 existing orders ---
say "2. ORDER at 50 connections: 1,000 vs 1,000,000 existing orders ($ROUNDS rounds each)"
stop "$MAIN_PID"
data_copy "$WORK/orders-1k" 1000
data_copy "$WORK/orders-1m" 1000000
load_start=$(date +%s.%N)
start_feira orders-1m "$WORK/orders-1m"
M_PID=$FEIRA_PID M_ADDR=$FEIRA_ADDR
LOAD_1M=$(awk -v a="$load_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
M_RSS=$(awk '/VmRSS/ {print $2}' "/proc/$M_PID/status")
start_feira orders-1k "$WORK/orders-1k"
K_PID=$FEIRA_PID K_ADDR=$FEIRA_ADDR
for round in $(seq 1 "$ROUNDS"); do
    bench --addr "$K_ADDR" -c 50 -d 4s -t order --label orders-1k
    bench --addr "$M_ADDR" -c 50 -d 4s -t order --label orders-1m
done
stop "$M_PID"
stop "$K_PID"

# --- 3. durable writes: redis INCRBY with appendfsync always; TRANSFER; mixed ---
# Rounds alternate between the two servers: on two cores shared with the client, one
# 3-second run of either moves by 10% from run to run, so the target is judged on means.
# Both start empty-handed: redis-server with no keys, feira on a fresh copy of data/
# (the ORDER servers of step 2 hold up to a million orders and their ledger lines by
# now, and would checkpoint them during the runs; docs/bench-notes.md says what that costs).
say "3. durable writes: redis INCRBY (appendfsync always), feira transfer and mixed at 50 ($ROUNDS rounds each)"
if [ "$HAVE_REDIS" = yes ]; then
    stop "$REDIS_PING_PID"
    start_redis redis-aof --appendonly yes --appendfsync always
fi
data_copy "$WORK/durable"
start_feira durable "$WORK/durable"
K_PID=$FEIRA_PID K_ADDR=$FEIRA_ADDR
# One warm-up run of each, not counted in the results, so that both are measured in their steady state:
# a fresh feira-server zeroes its journal's bigger files ahead during its first seconds of
# writes (src/storage/padding.rs), and redis-server grows its append-only file.
if [ "$HAVE_REDIS" = yes ]; then
    record "$BIN/feira-bench" --redis --addr "$REDIS_ADDR" -c 50 -d "$DURATION" -t incr >/dev/null
fi
record "$BIN/feira-bench" --addr "$K_ADDR" -c 50 -d "$DURATION" -t transfer --users 50 >/dev/null
for round in $(seq 1 "$ROUNDS"); do
    if [ "$HAVE_REDIS" = yes ]; then
        bench --redis --addr "$REDIS_ADDR" -c 50 -d "$DURATION" -t incr --label aof-always
    fi
    bench --addr "$K_ADDR" -c 50 -d "$DURATION" -t transfer,mixed --users 50 --label durable
    bench --addr "$K_ADDR" -c 50 -d "$DURATION" -t transfer,order --users 50 --hot-row --label durable-hot
done
if [ "$HAVE_REDIS" = yes ]; then
    stop "$REDIS_PID"
fi
stop "$K_PID"

# --- 3b. the ablation: what each speed layer buys ---
# The same durable workload (TRANSFER at 50 connections, rows spread) on a fresh server
# per row, each with one layer switched off, then all of them (docs/BENCHMARKS.md,
# "What each speed layer buys"; src/storage/layers.rs lists the layers). Each row gets a
# warm-up run of the same length first, not counted, as in step 3: a fresh server zeroes
# its journal's next files during its first seconds of writes (src/storage/padding.rs),
# and a short row would charge that to the pre-zeroing layer.
say "3b. ablation: TRANSFER at 50 connections with each speed layer off in turn, $ABLATION_DURATION each"
ablation=0
for flags in "" "--reply-path plain" "--group-commit off" "--prezero off" \
    "--checkpoint rewrite" "--csv crate" "--plain"; do
    ablation=$((ablation + 1))
    data_copy "$WORK/ablation-$ablation"
    # shellcheck disable=SC2086 # the flags are words on purpose
    start_feira "ablation-$ablation" "$WORK/ablation-$ablation" $flags
    record "$BIN/feira-bench" --addr "$FEIRA_ADDR" -c 50 -d "$ABLATION_DURATION" -t transfer --users 50 >/dev/null
    bench --addr "$FEIRA_ADDR" -c 50 -d "$ABLATION_DURATION" -t transfer --users 50 \
        --label "ablation: $flags"
    stop "$FEIRA_PID"
done

# --- 4. slowloris ---
say "4. slowloris: 1,000 connections trickling a byte a second (line timeout 2 s)"
data_copy "$WORK/slow"
start_feira slow "$WORK/slow" --max-connections 2000 --line-timeout 2 --idle-timeout 5
record "$BIN/feira-bench" slowloris --addr "$FEIRA_ADDR" -n 1000 -d 6s --out "$RESULTS/slowloris.csv" >&2
stop "$FEIRA_PID"

# --- 5. many connections held at once ---
if [ "$NOFILE" -lt $((HOLD + 200)) ]; then
    say "5. SKIPPED: holding $HOLD connections needs an open-files limit above $((HOLD + 200)); this shell allows $NOFILE"
else
    say "5. $HOLD logged-in connections held at once (each login is an argon2 hash: this takes a while)"
    data_copy "$WORK/hold"
    start_feira hold "$WORK/hold" --max-connections $((HOLD + 100))
    record "$BIN/feira-bench" hold --addr "$FEIRA_ADDR" -n "$HOLD" --threads 16 \
        --server-pid "$FEIRA_PID" --out "$RESULTS/hold.csv" >&2
    stop "$FEIRA_PID"
fi

# --- 6. login under flood ---
say "6. login under flood: $FLOOD connections from 127.0.0.2 loop wrong logins on made-up names; alice logs in from 127.0.0.3"
data_copy "$WORK/flood"
start_feira flood "$WORK/flood" --max-connections $((FLOOD + 100))
record "$BIN/feira-bench" flood --addr "$FEIRA_ADDR" -n "$FLOOD" -d "$FLOOD_DURATION" \
    --flood-from 127.0.0.2 --user-from 127.0.0.3 --accounts alice:alice-pass --out "$RESULTS/flood.csv" >&2
stop "$FEIRA_PID"

# --- 7. peer-to-peer file transfer ---
say "7. peer-to-peer: a 256 MiB file fetched from a peer over loopback, beside a plain TCP copy"
echo "cargo run --release --example p2p_throughput -- --size-mib 256" >>"$COMMANDS"
cargo run --release --quiet --example p2p_throughput -- --size-mib 256 >"$RESULTS/p2p.txt" 2>&1 ||
    echo "(the p2p benchmark failed; see above)" >>"$RESULTS/p2p.txt"

# --- 8. the two doors: the line protocol and gRPC ---
# One server with both doors; the same client model drives each (docs/RPC.md reads the
# comparison from these figures). Needs binaries built with the `grpc` feature: a build
# without it says so at once, and the step is skipped.
if "$BIN/feira-bench" --addr 127.0.0.1:1 --grpc 127.0.0.1:1 -c 1 -d 1ms 2>&1 | grep -q "without gRPC"; then
    say "8. SKIPPED: the binaries were built without the grpc feature (make bench builds with it)"
else
    say "8. two doors: PRODUCT/GetProduct and ORDER/PlaceOrder at $DOORS_CONNECTIONS clients over sockets and gRPC, $DURATION each; $IDLE idle clients at each"
    # The gRPC door's address, from the line it logs at start (within 30 s).
    grpc_addr_of() {
        local addr= deadline=$(($(date +%s) + 30))
        while [ -z "$addr" ] && [ "$(date +%s)" -le "$deadline" ]; do
            addr=$(grep -o 'gRPC door on [0-9.:]*' "$WORK/$1.log" | head -1 | awk '{print $4}')
            [ -n "$addr" ] || sleep 0.1
        done
        echo "$addr"
    }
    data_copy "$WORK/doors"
    start_feira doors "$WORK/doors" --max-connections 2000 --grpc-addr 127.0.0.1:0 --grpc-max-connections 1100
    DOORS_GRPC=$(grpc_addr_of doors)
    for c in $DOORS_CONNECTIONS; do
        say "   $c clients"
        for door in sockets grpc; do
            grpc_flag=()
            [ "$door" = grpc ] && grpc_flag=(--grpc "$DOORS_GRPC")
            record "$BIN/feira-bench" --addr "$FEIRA_ADDR" "${grpc_flag[@]}" -c "$c" -d "$DURATION" \
                -t product,order --server-pid "$FEIRA_PID" --doors-out "$RESULTS/doors.csv" >&2
        done
    done
    stop "$FEIRA_PID"
    data_copy "$WORK/idle-sockets"
    start_feira idle-sockets "$WORK/idle-sockets" --max-connections $((IDLE + 100))
    record "$BIN/feira-bench" idle --addr "$FEIRA_ADDR" --door sockets -n "$IDLE" \
        --server-pid "$FEIRA_PID" --out "$RESULTS/idle.csv" >&2
    stop "$FEIRA_PID"
    data_copy "$WORK/idle-grpc"
    start_feira idle-grpc "$WORK/idle-grpc" --grpc-addr 127.0.0.1:0 --grpc-max-connections $((IDLE + 100))
    record "$BIN/feira-bench" idle --addr "$FEIRA_ADDR" --door grpc --grpc "$(grpc_addr_of idle-grpc)" \
        -n "$IDLE" --server-pid "$FEIRA_PID" --out "$RESULTS/idle.csv" >&2
    stop "$FEIRA_PID"
fi

# --- the report ---
say "writing $OUT and $CHART"
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
REDIS_VERSION="not installed: comparison skipped"
[ "$HAVE_REDIS" = yes ] && REDIS_VERSION=$(redis-server --version | awk '{print $3}')
cat >"$RESULTS/header.md" <<HEADER
# Benchmarks

Written by \`make bench\` (scripts/bench.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'), in $(($(date +%s) - STARTED)) s.
Every figure below comes from that run (the raw CSV files are in docs/bench-results/);
the section "Reading the figures" at the end is docs/bench-notes.md, written by hand.

## Machine

| | |
|---|---|
| CPU | $CPU |
| cores (\`nproc\`) | $(nproc) |
| memory (\`free -h\`) | $(free -h | awk '/^Mem:/ {print $2 " total, " $7 " available"}') |
| kernel | $(uname -sr) |
| rustc | $(rustc --version 2>/dev/null) |
| redis-server | $REDIS_VERSION |
| open files limit | $NOFILE |
| load average (1, 5, 15 min) before / after | $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg) |

The client (feira-bench) runs on the same two cores as the servers, as redis-benchmark
would: the figures measure the pair, and the same client measures redis-server. The
machine is shared (other builds may run at the same time: see the load average), so
figures move by tens of percent between runs; compare rows of one run, not across runs.

## How the figures were made

feira-bench opens one OS thread per connection; each connection logs in first (an
argon2id hash, about 25 ms of CPU, reported apart as "logins"), then all of them start
together and send one request at a time for the duration, waiting for each reply. The
latencies go into an HDR histogram per thread, merged at the end. Against redis-server
the same threads send inline \`PING\r\n\` and read \`+PONG\`. ORDER buys 1 to 3 units of
a product created for the benchmark; after each write workload feira-bench reads the
stock again as admin and checks that the units that left equal the acknowledged orders
(the "verify" column). The servers run release builds on a temporary copy of \`data/\`.
The 1,000,000 existing orders are an \`orders.csv\` snapshot generated before the server
starts (it loaded in ${LOAD_1M} s and then used ${M_RSS} KiB of memory).

The exact commands (\`\$WORK\` is the temporary directory; feira-server ran as
\`feira-server --addr 127.0.0.1:0 --data \$WORK/<name> ...\`, redis-server as
\`redis-server --save '' --appendonly no\` for PING and
\`--appendonly yes --appendfsync always\` for INCRBY):

\`\`\`
$(cat "$COMMANDS")
\`\`\`

HEADER
rm -rf "$SAVED"
mkdir -p "$SAVED"
cp "$RESULTS"/*.csv "$RESULTS"/*.md "$RESULTS"/*.txt "$SAVED"/
render
say "done: $OUT"
