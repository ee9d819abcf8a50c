#!/usr/bin/env bash
# Export speed of this tree against another threadkit binary (an older commit), interleaved
# with `validate` so that both ratios come from the same rounds on this noisy VM. The order
# of the two exports alternates: an export leaves ~180 MB being written back to disk, which
# slows whatever runs right after it.
#
#   bash bench/export_vs.sh OTHER_BINARY [N=20000] [ROUNDS=8]
# Build the other binary outside this target folder, e.g.
#   git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release)
# (a worktree sharing this target folder can leave cargo reusing the wrong library).
set -euo pipefail
cd "$(dirname "$0")/.."
OTHER=$1
N=${2:-20000}
ROUNDS=${3:-8}
OUT=bench/out
[ -d "$OUT/corpus_$N" ] || python3 bench/make_corpus.py "$N" "$OUT/corpus_$N"
cargo build --release --quiet
TK=target/release/threadkit
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N); python3 -c "print(round($t1 - $t0, 3))"; }
ex() { rm -rf "$OUT/export_out"; "$1" export "$OUT/corpus_$N" --out "$OUT/export_out" --profile openai \
  --split train=0.9,val=0.1 --seed 1 --max-tokens 16385 --quality off -q; }
# One round unmeasured: the corpus's first read is a disk read, not what the commands cost.
secs "$TK" validate "$OUT/corpus_$N" -q >/dev/null; secs ex "$OTHER" >/dev/null; secs ex "$TK" >/dev/null
V=0; O=0; T=0
for r in $(seq "$ROUNDS"); do
  v=$(secs "$TK" validate "$OUT/corpus_$N" -q)
  if [ $((r % 2)) = 1 ]; then o=$(secs ex "$OTHER"); t=$(secs ex "$TK"); else t=$(secs ex "$TK"); o=$(secs ex "$OTHER"); fi
  echo "round $r: validate ${v}s other export ${o}s this export ${t}s"
  V=$(python3 -c "print($V + $v)"); O=$(python3 -c "print($O + $o)"); T=$(python3 -c "print($T + $t)")
done
python3 -c "print(f'validate {$V / $ROUNDS:.2f}s; other export {$O / $ROUNDS:.2f}s ({$O / $V:.2f}x); this export {$T / $ROUNDS:.2f}s ({$T / $V:.2f}x); {$O / $T:.2f}x faster')"
