#!/usr/bin/env bash
# Migration speed: `threadkit migrate` in place over N legacy threads against `threadkit validate`
# over the same files (the issue's target: migrate ≤ 2× validate), and against `cp -r` of the
# same files — the cost of creating N files at all on this filesystem, which migrate must pay.
# Each round starts from a fresh copy.
#
#   bash bench/migrate.sh [N=20000] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
ROUNDS=${2:-3}
OUT=bench/out
SRC=$OUT/legacy_$N
mkdir -p "$OUT"
[ -d "$SRC" ] || python3 bench/make_legacy_corpus.py "$N" "$SRC"
cargo build --release --quiet
TK=target/release/threadkit
now() { date +%s.%N; }
v=0; m=0; c=0
for r in $(seq "$ROUNDS"); do
  rm -rf "$OUT/mig" "$OUT/cp" && mkdir -p "$OUT/mig"
  sync
  t0=$(now); cp -r "$SRC" "$OUT/mig/threads"; sync; t1=$(now)
  "$TK" validate "$OUT/mig/threads" --format json > /dev/null || true; t2=$(now)
  "$TK" migrate "$OUT/mig/threads" --format json > "$OUT/migrate_report.json"; t3=$(now)
  c=$(python3 -c "print($c + $t1 - $t0)"); v=$(python3 -c "print($v + $t2 - $t1)"); m=$(python3 -c "print($m + $t3 - $t2)")
  echo "round $r: cp -r + sync $(python3 -c "print(round($t1-$t0,2))") s, validate $(python3 -c "print(round($t2-$t1,2))") s, migrate $(python3 -c "print(round($t3-$t2,2))") s" >&2
done
python3 - "$v" "$m" "$c" "$N" "$ROUNDS" <<'PY'
import sys
v, m, c, n, r = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"validate {n * r / v:8.0f} files/s | migrate in place {n * r / m:8.0f} files/s | cp -r + sync {n * r / c:8.0f} files/s")
print(f"migrate/validate time: {m / v:.2f}x   migrate/(cp -r + sync) time: {m / c:.2f}x")
PY
"$TK" validate "$OUT/mig/threads" -q --color never | head -3
