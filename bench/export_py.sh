#!/usr/bin/env bash
# threadkit export against the Python pipeline a user would write instead (bench/export_python.py:
# orjson + tiktoken, a process per core, the same split, fsync and lines), and against
# threadkit validate, in interleaved rounds on the same corpus; then both exports' outputs are
# compared byte for byte, and the peak RSS of each (the Python pool's workers included).
#
#   bash bench/export_py.sh [N=20000] [ROUNDS=5]
# Needs a Python with orjson and tiktoken: PY=/path/to/venv/bin/python (default: a venv made
# under bench/out/venv on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
ROUNDS=${2:-5}
OUT=bench/out
[ -d "$OUT/corpus_$N" ] || python3 bench/make_corpus.py "$N" "$OUT/corpus_$N"
if [ -z "${PY:-}" ]; then
  [ -x "$OUT/venv/bin/python" ] || { python3 -m venv "$OUT/venv" && "$OUT/venv/bin/pip" install --quiet orjson tiktoken; }
  PY=$OUT/venv/bin/python
fi
cargo build --release --quiet
TK=target/release/threadkit
"$TK" tools schema > "$OUT/tools.json"
# The split, the token limit and the seed of both; --quality off: the Python pipeline has no quality rules.
tk_export() { rm -rf "$OUT/export_tk"; "$TK" export "$OUT/corpus_$N" --out "$OUT/export_tk" --profile openai \
  --split train=0.9,val=0.1 --seed 1 --max-tokens 16385 --quality off -q; }
# The same export written while the threads are read: 2 files per split (--partitions 2).
tk_parts() { rm -rf "$OUT/export_parts"; "$TK" export "$OUT/corpus_$N" --out "$OUT/export_parts" --profile openai \
  --split train=0.9,val=0.1 --seed 1 --max-tokens 16385 --quality off --partitions 2 -q; }
py_export() { rm -rf "$OUT/export_py"; "$PY" bench/export_python.py "$OUT/corpus_$N" "$OUT/export_py" "$OUT/tools.json" \
  src/tokens/vocab --seed 1 --max-tokens 16385; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N); python3 -c "print(round($t1 - $t0, 3))"; }
# One round unmeasured: the corpus's first read is a disk read; threadkit's first run builds its vocabulary cache.
secs "$TK" validate "$OUT/corpus_$N" -q >/dev/null; secs tk_export >/dev/null; secs tk_parts >/dev/null; secs py_export >/dev/null
V=0; T=0; W=0; P=0
for r in $(seq "$ROUNDS"); do
  v=$(secs "$TK" validate "$OUT/corpus_$N" -q)
  if [ $((r % 2)) = 1 ]; then t=$(secs tk_export); w=$(secs tk_parts); p=$(secs py_export); else p=$(secs py_export); w=$(secs tk_parts); t=$(secs tk_export); fi
  echo "round $r: validate ${v}s threadkit export ${t}s (--partitions 2: ${w}s) python export ${p}s"
  V=$(python3 -c "print($V + $v)"); T=$(python3 -c "print($T + $t)"); W=$(python3 -c "print($W + $w)"); P=$(python3 -c "print($P + $p)")
done
python3 -c "print(f'{$N} threads: validate {$V / $ROUNDS:.2f}s, threadkit export {$T / $ROUNDS:.2f}s (--partitions 2: {$W / $ROUNDS:.2f}s), python export {$P / $ROUNDS:.2f}s')"
python3 -c "print(f'export / validate = {$T / $V:.2f}x, with --partitions 2 {$W / $V:.2f}x (target <= 2); python / threadkit = {$P / $T:.1f}x, with --partitions 2 {$P / $W:.1f}x (target >= 10)')"
cat "$OUT"/export_parts/train/*.jsonl | sort | cmp -s - <(sort "$OUT/export_tk/train.jsonl") && echo "--partitions 2: the same train lines" || echo "--partitions 2: train lines DIFFER"
for s in train val; do
  cmp -s "$OUT/export_tk/$s.jsonl" "$OUT/export_py/$s.jsonl" && echo "$s.jsonl: byte-identical" || echo "$s.jsonl: DIFFERS"
done
tk_rss=$(python3 bench/peak_rss.py "$TK" export "$OUT/corpus_$N" --out "$OUT/export_rss" --profile openai --split train=0.9,val=0.1 \
  --seed 1 --max-tokens 16385 --quality off -q --force 2>&1 >/dev/null | tail -1)
py_rss=$(python3 bench/peak_rss.py "$PY" bench/export_python.py "$OUT/corpus_$N" "$OUT/export_rss_py" "$OUT/tools.json" src/tokens/vocab 2>&1 >/dev/null | tail -1)
echo "peak RSS: threadkit export $((tk_rss / 1024)) MB (target < 150), python export $((py_rss / 1024)) MB (all processes)"
