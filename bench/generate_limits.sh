#!/usr/bin/env bash
# Issue 27's rate-limit case, three runs per mode: `generate new --count 60 -p 16` against the
# scripted endpoint playing a hosted API's limits (scripts/mock_chat_endpoint.py --rps / --tpm).
# Prints per run: threads finished, requests answered and rejected, and the share of what the
# limit allowed over the run's wall time that the run used.
#
#   bash bench/generate_limits.sh [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
OUT=bench/out/generate_limits
rm -rf "$OUT"; mkdir -p "$OUT"
cargo build --release --quiet
TK=$PWD/target/release/threadkit
export THREADKIT_CACHE_DIR=$OUT/cache OPENAI_API_KEY=sk-bench

# name | endpoint flags | allowed units per second | its burst | what the stats count
MODES=(
  "20 req/s, x-ratelimit headers|--rps 20 --latency-ms 200|20|20|accepted"
  "20 req/s, Retry-After only|--rps 20 --latency-ms 50 --no-limit-headers|20|20|accepted"
  "180k tokens per 6 s minute|--tpm 180000 --minute-s 6 --latency-ms 100|30000|180000|prompt_tokens"
)
printf "%-32s %4s %9s %9s %9s %8s %7s\n" mode run finished answered rejected used wall
for mode in "${MODES[@]}"; do
  IFS='|' read -r name flags rate burst unit <<< "$mode"
  for run in $(seq "$RUNS"); do
    python3 scripts/mock_chat_endpoint.py $flags > "$OUT/port" &
    PID=$!
    for _ in $(seq 100); do grep -q port "$OUT/port" 2>/dev/null && break; sleep 0.05; done
    URL="http://127.0.0.1:$(awk '{print $2}' "$OUT/port")/v1"
    start=$(date +%s.%N)
    "$TK" generate new --data-root fixtures/datasets --threads-dir "$OUT/t.$run.${rate}" --base-url "$URL" --model mock \
      --structured json_object --count 60 -p 16 --seed "$run" --batch -q --format json > "$OUT/summary.json" || true
    end=$(date +%s.%N)
    python3 - "$name" "$run" "$start" "$end" "$rate" "$burst" "$unit" "$URL" "$OUT/summary.json" <<'PY'
import json, sys, urllib.request
name, run, start, end, rate, burst, unit, url, summary = sys.argv[1:]
stats = json.load(urllib.request.urlopen(url + "/stats"))
s = json.load(open(summary))["summary"]
wall = float(end) - float(start)
used = stats[unit] / (float(burst) + float(rate) * wall)
rej = stats["rejected"] / (stats["accepted"] + stats["rejected"])
print(f"{name:<32} {run:>4} {s['finished']:>9} {stats['accepted']:>9} {stats['rejected']:>4} {100*rej:3.0f}% {100*used:7.0f}% {wall:6.1f}s")
PY
    kill $PID; rm -rf "$OUT"/t.*
  done
done
