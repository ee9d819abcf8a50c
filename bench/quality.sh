#!/usr/bin/env bash
# `threadkit quality` against `threadkit validate` on the same corpus, interleaved rounds (one unmeasured
# round first: the corpus's first read is a disk read), then peak RSS of each, then the scaling pair:
# the near-duplicate search alone (`--select near-duplicate`) on N and 10×N threads.
#
#   bash bench/quality.sh [N=20000] [ROUNDS=3] [SCALE=10]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
ROUNDS=${2:-3}
SCALE=${3:-10}
OUT=bench/out
mkdir -p "$OUT"
[ -d "$OUT/corpus_$N" ] || python3 bench/make_corpus.py "$N" "$OUT/corpus_$N" >/dev/null
cargo build --release --quiet
TK=target/release/threadkit

now() { date +%s.%N; }
timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1 || true; python3 -c "print($(now) - $t0)"; }

"$TK" validate "$OUT/corpus_$N" -q >/dev/null 2>&1 || true
"$TK" quality "$OUT/corpus_$N" -q >/dev/null 2>&1 || true
V=0; Q=0
for r in $(seq "$ROUNDS"); do
  v=$(timed "$TK" validate "$OUT/corpus_$N" -q)
  q=$(timed "$TK" quality "$OUT/corpus_$N" -q)
  echo "round $r: validate ${v}s quality ${q}s"
  V=$(python3 -c "print($V + $v)"); Q=$(python3 -c "print($Q + $q)")
done
python3 -c "print(f'quality / validate = {$Q / $V:.2f}x  (validate {$V / $ROUNDS:.2f}s, quality {$Q / $ROUNDS:.2f}s, {$N} threads)')"

/usr/bin/time -o "$OUT/rss_v" -f %M "$TK" validate "$OUT/corpus_$N" -q >/dev/null 2>&1 || true
/usr/bin/time -o "$OUT/rss_q" -f %M "$TK" quality "$OUT/corpus_$N" -q >/dev/null 2>&1 || true
echo "peak RSS at $N threads: validate $(tail -1 "$OUT/rss_v") KB, quality $(tail -1 "$OUT/rss_q") KB"

# Scaling: N and SCALE×N threads, the near-duplicate index alone (parse + signature + LSH).
BIG=$((N * SCALE))
[ -d "$OUT/corpus_$BIG" ] || python3 bench/make_corpus.py "$BIG" "$OUT/corpus_$BIG" >/dev/null
"$TK" quality "$OUT/corpus_$BIG" -q --select near-duplicate >/dev/null 2>&1 || true
small=$(timed "$TK" quality "$OUT/corpus_$N" -q --select near-duplicate)
big=$(timed "$TK" quality "$OUT/corpus_$BIG" -q --select near-duplicate)
/usr/bin/time -o "$OUT/rss_big" -f %M "$TK" quality "$OUT/corpus_$BIG" -q --select near-duplicate >/dev/null 2>&1 || true
python3 -c "print(f'near-duplicate search: {$N} threads {$small:.2f}s, {$BIG} threads {$big:.2f}s: {$SCALE}x the threads = {$big / $small:.1f}x the time')"
echo "peak RSS at $BIG threads (near-duplicate index): $(tail -1 "$OUT/rss_big") KB"
