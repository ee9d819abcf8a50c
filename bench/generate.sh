#!/usr/bin/env bash
# Generator speed against the scripted endpoint (scripts/mock_chat_endpoint.py):
#  1. an endpoint that answers at once: the generator's own overhead per step (prompt building,
#     tool run, validation, atomic save), median as the run summary reports it;
#  2. an endpoint with 200 ms latency per request: threads per minute with --parallel 1 and --parallel 8.
#
#   bash bench/generate.sh [THREADS=32]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-32}
OUT=bench/out/generate
rm -rf "$OUT"; mkdir -p "$OUT"
cargo build --release --quiet
TK=$PWD/target/release/threadkit
export THREADKIT_CACHE_DIR=$OUT/cache

start_endpoint() { # latency_ms → sets URL, PID
  python3 scripts/mock_chat_endpoint.py --no-errors --latency-ms "$1" > "$OUT/port.$1" &
  PID=$!
  for _ in $(seq 100); do grep -q port "$OUT/port.$1" 2>/dev/null && break; sleep 0.05; done
  URL="http://127.0.0.1:$(awk '{print $2}' "$OUT/port.$1")/v1"
}
gen() { # url threads_dir jobs
  "$TK" generate new --data-root fixtures/datasets --threads-dir "$2" --base-url "$1" --model mock \
    --structured json_object --count "$N" --seed 1 --batch --parallel "$3"
}

start_endpoint 0
echo "instant endpoint, --parallel 1:"; gen "$URL" "$OUT/t0" 1 | tail -1
kill $PID

start_endpoint 200
declare -A RATE
for jobs in 1 8; do
  t0=$(date +%s.%N); gen "$URL" "$OUT/t200_$jobs" "$jobs" > "$OUT/summary.$jobs"; t1=$(date +%s.%N)
  RATE[$jobs]=$(python3 -c "print($N / (($t1 - $t0) / 60))")
  printf '200 ms endpoint, --parallel %s: %.1f threads/min (%s)\n' "$jobs" "${RATE[$jobs]}" "$(tail -1 "$OUT/summary.$jobs" | cut -c1-60)"
done
kill $PID
python3 -c "print(f'--parallel 8 / --parallel 1 = {${RATE[8]} / ${RATE[1]}:.2f}x')"
for d in "$OUT"/t*; do "$TK" validate "$d" -q --data-root fixtures/datasets; done
