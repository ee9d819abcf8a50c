#!/usr/bin/env bash
# Export speed and memory: `threadkit export --profile openai --split … --max-tokens` against
# `threadkit validate` on the same corpus, interleaved rounds; peak RSS of both at two corpus
# sizes to show whether memory grows with the number of threads.
#
#   bash bench/export.sh [N=20000] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
ROUNDS=${2:-3}
OUT=bench/out
SMALL=$(( N / 4 ))
for n in "$N" "$SMALL"; do
  [ -d "$OUT/corpus_$n" ] || python3 bench/make_corpus.py "$n" "$OUT/corpus_$n"
done
cargo build --release --quiet
TK=target/release/threadkit
# --quality off: the numbers in the README and issue 15 were measured before export ran the quality
# rules (the synthetic bench corpus is 87 % flagged; `bench/quality.sh` measures those rules).
export_cmd() { rm -rf "$OUT/export_out"; "$TK" export "$1" --out "$OUT/export_out" --profile openai \
  --split train=0.9,val=0.1 --seed 1 --max-tokens 16385 --quality off -q >/dev/null; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N); python3 -c "print($t1 - $t0)"; }
# One round unmeasured: the first read of the corpus after generating it (or after other work
# evicted it) is a disk read, not what either command costs.
secs "$TK" validate "$OUT/corpus_$N" -q >/dev/null; secs export_cmd "$OUT/corpus_$N" >/dev/null
V=0; E=0
for r in $(seq "$ROUNDS"); do
  v=$(secs "$TK" validate "$OUT/corpus_$N" -q); e=$(secs export_cmd "$OUT/corpus_$N")
  echo "round $r: validate ${v}s export ${e}s"
  V=$(python3 -c "print($V + $v)"); E=$(python3 -c "print($E + $e)")
done
python3 -c "print(f'export / validate = {$E / $V:.2f}x  (validate {$V / $ROUNDS:.2f}s, export {$E / $ROUNDS:.2f}s, {$N} threads)')"
# Export's files must be on disk before they are renamed into place (validate writes nothing):
# the time this disk takes to write that many bytes durably is a floor under export's last phase.
BYTES=$(cat "$OUT"/export_out/*.jsonl | wc -c)
python3 - "$OUT/disk_probe" "$BYTES" <<'PY'
import os, sys, time
path, size = sys.argv[1], int(sys.argv[2])
chunk = os.urandom(1 << 20)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
t = time.time()
for _ in range(size >> 20):
    os.write(fd, chunk)
os.fdatasync(fd)
print(f"durable write of the export's {size / 1e6:.0f} MB on this disk: {time.time() - t:.2f}s (a floor under export's last phase)")
os.close(fd)
os.unlink(path)
PY
for n in "$SMALL" "$N"; do
  # validate exits 1 on the corpus's deliberately broken threads: not an error here.
  /usr/bin/time -o "$OUT/rss_v" -f %M "$TK" validate "$OUT/corpus_$n" -q >/dev/null 2>&1 || true
  rm -rf "$OUT/export_out"
  /usr/bin/time -o "$OUT/rss_e" -f %M "$TK" export "$OUT/corpus_$n" --out "$OUT/export_out" --profile openai \
    --split train=0.9,val=0.1 --max-tokens 16385 --quality off -q >/dev/null 2>&1 || true
  echo "peak RSS at $n threads: validate $(tail -1 "$OUT/rss_v") KB, export $(tail -1 "$OUT/rss_e") KB"
done
