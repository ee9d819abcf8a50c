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
# The wall seconds and the CPU seconds (user + sys, child processes included: the Python pool's
# workers) of one command. The wall ratio is the target; the CPU ratio moves less on this noisy VM.
secs() { local TIMEFORMAT='%R %U %S' t; t=$( { time "$@" >/dev/null 2>&1; } 2>&1 ) || true; awk '{printf "%.3f %.3f\n", $1, $2 + $3}' <<< "$t"; }
# One round unmeasured: the corpus's first read is a disk read, not what the commands cost.
secs "$TK" validate "$OUT/corpus_$N" -q >/dev/null; secs tk_export >/dev/null; secs tk_parts >/dev/null; secs py_export >/dev/null
: > "$OUT/export_py.rounds"
for r in $(seq "$ROUNDS"); do
  v=$(secs "$TK" validate "$OUT/corpus_$N" -q)
  if [ $((r % 2)) = 1 ]; then t=$(secs tk_export); w=$(secs tk_parts); p=$(secs py_export); else p=$(secs py_export); w=$(secs tk_parts); t=$(secs tk_export); fi
  echo "round $r (wall s, cpu s): validate $v threadkit export $t (--partitions 2: $w) python export $p"
  echo "$v $t $w $p" >> "$OUT/export_py.rounds"
done
# Columns: validate, export, --partitions 2, python; each wall then cpu.
awk -v n="$N" '{for (i = 1; i <= 8; i++) s[i] += $i; k++}
  END {
    printf "%d threads, mean of %d rounds: validate %.2fs (cpu %.2fs), threadkit export %.2fs (cpu %.2fs; --partitions 2: %.2fs), python export %.2fs (cpu %.2fs)\n", n, k, s[1]/k, s[2]/k, s[3]/k, s[4]/k, s[5]/k, s[7]/k, s[8]/k
    printf "export / validate = %.2fx, with --partitions 2 %.2fx (target <= 2; cpu %.2fx); python / threadkit = %.1fx, with --partitions 2 %.1fx (target >= 10; cpu %.1fx)\n", s[3]/s[1], s[5]/s[1], s[4]/s[2], s[7]/s[3], s[7]/s[5], s[8]/s[4]
  }' "$OUT/export_py.rounds"
cat "$OUT"/export_parts/train/*.jsonl | sort | cmp -s - <(sort "$OUT/export_tk/train.jsonl") && echo "--partitions 2: the same train lines" || echo "--partitions 2: train lines DIFFER"
for s in train val; do
  cmp -s "$OUT/export_tk/$s.jsonl" "$OUT/export_py/$s.jsonl" && echo "$s.jsonl: byte-identical" || echo "$s.jsonl: DIFFERS"
done
tk_rss=$(python3 bench/peak_rss.py "$TK" export "$OUT/corpus_$N" --out "$OUT/export_rss" --profile openai --split train=0.9,val=0.1 \
  --seed 1 --max-tokens 16385 --quality off -q --force 2>&1 >/dev/null | tail -1)
py_rss=$(python3 bench/peak_rss.py "$PY" bench/export_python.py "$OUT/corpus_$N" "$OUT/export_rss_py" "$OUT/tools.json" src/tokens/vocab 2>&1 >/dev/null | tail -1)
echo "peak RSS: threadkit export $((tk_rss / 1024)) MB (target < 150), python export $((py_rss / 1024)) MB (all processes)"
