#!/usr/bin/env bash
# Tool speed on a UCI-HAR-sized dataset (10,299 sessions × 128 samples × 9 channels):
# show_session_stats against pandas + pyarrow doing the same exact computation (interleaved),
# compute_features on one window, classify_activity with its feature index cached.
#
#   bash bench/tools.sh [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
OUT=bench/out
DATA=$OUT/har_root
mkdir -p "$OUT"
cargo build --release --quiet --bins --examples
[ -d "$DATA/uci_har" ] || cargo run --release --quiet --example make_har_dataset -- "$DATA/uci_har"
if [ ! -x "$OUT/venv/bin/python" ] || ! "$OUT/venv/bin/python" -c "import pandas, pyarrow" 2>/dev/null; then
  python3 -m venv "$OUT/venv"
  "$OUT/venv/bin/pip" install --quiet pandas pyarrow
fi
now() { date +%s.%N; }
tk=0; pd=0
for r in $(seq "$ROUNDS"); do
  t0=$(now); target/release/threadkit tools run show_session_stats --data-root "$DATA" > /dev/null; t1=$(now)
  "$OUT/venv/bin/python" bench/session_stats_pandas.py "$DATA/uci_har" > /dev/null; t2=$(now)
  tk=$(python3 -c "print($tk + $t1 - $t0)"); pd=$(python3 -c "print($pd + $t2 - $t1)")
  echo "round $r: threadkit $(python3 -c "print(round($t1-$t0,3))") s, pandas $(python3 -c "print(round($t2-$t1,3))") s" >&2
done
python3 -c "print(f'show_session_stats over 10,299 sessions: threadkit {$tk/$ROUNDS:.3f} s, pandas+pyarrow {$pd/$ROUNDS:.3f} s, ratio {$pd/$tk:.1f}x')"
THREADKIT_CACHE_DIR=$OUT/cache target/release/examples/bench_tools "$DATA" uci_har train_01_0000
