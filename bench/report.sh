#!/usr/bin/env bash
# `threadkit report`: generation time and file size at 1,000 and 10,000 threads (bytes per
# thread), and the time headless Chromium takes until the 10,000-thread report is usable
# (loaded, table rendered) and to open a thread and filter.
#
#   bash bench/report.sh            (needs /usr/bin/chromium and `npm ci` in tests/browser)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
cargo build --release --quiet
TK=target/release/threadkit
for n in 1000 10000; do
  [ -d "$OUT/corpus_$n" ] || python3 bench/make_corpus.py "$n" "$OUT/corpus_$n" >/dev/null
  best=""
  for r in 1 2 3; do
    t0=$(date +%s.%N); "$TK" report "$OUT/corpus_$n" --out "$OUT/report_$n.html" -q >/dev/null; t1=$(date +%s.%N)
    t=$(python3 -c "print(round($t1 - $t0, 3))")
    best=$(python3 -c "print(min(x for x in [$t, ${best:-1e9}]))")
  done
  size=$(stat -c %s "$OUT/report_$n.html"); corpus=$(du -sb "$OUT/corpus_$n" | cut -f1)
  /usr/bin/time -o "$OUT/rss_r" -f %M "$TK" report "$OUT/corpus_$n" --out "$OUT/report_$n.html" -q >/dev/null
  echo "$n threads: report in ${best}s (best of 3), $(( size / 1024 )) KiB = $(( size / n )) bytes/thread (corpus $(( corpus / n )) bytes/thread), peak RSS $(tail -1 "$OUT/rss_r") KB"
done
[ -d tests/browser/node_modules ] || (cd tests/browser && npm ci --no-audit --no-fund >/dev/null)
node tests/browser/report.test.mjs --load "$OUT/report_10000.html" 3
