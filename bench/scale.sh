#!/usr/bin/env bash
# N threads (default 1,000,000, from bench/make_corpus.py) through validate, quality and export on
# this machine: wall time, peak RSS (GNU time's maximum resident set) and the disk the export
# takes; then the same as 4 shards (`--shard I/4`, one after another, as 4 array jobs would run)
# whose reports `threadkit merge` joins and whose exports together are the single export (their
# export.json merged too).
#
#   bash bench/scale.sh [N=1000000]
#
# Needs ~9 GB for the 1M corpus and ~2 × 10 GB for the two exports (the single one is removed
# after the comparison). Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
OUT=bench/out
C=$OUT/corpus_$N
S=$OUT/scale_$N
[ -d "$C" ] || python3 bench/make_corpus.py "$N" "$C"
cargo build --release --quiet
TK=target/release/threadkit
rm -rf "$S"; mkdir -p "$S"
ROWS=()
# run NAME CMD...: wall seconds and peak RSS (MB) of one command; its stdout kept in $S/NAME.out.
# Files are named by the step with every other character an underscore ("validate --shard 1/4" → validate___shard_1_4).
key() { printf '%s' "$1" | tr -c 'A-Za-z0-9' '_'; }
run() {
  local name=$1 k; k=$(key "$1"); shift
  /usr/bin/time -f "%e %M" -o "$S/$k.time" "$@" > "$S/$k.out" 2> "$S/$k.err" || true
  read -r secs kb < <(tail -1 "$S/$k.time")
  ROWS+=("| $name | $secs | $((kb / 1024)) |")
  echo "$name: ${secs}s, $((kb / 1024)) MB" >&2
}
# The corpus's first read is a disk read: one untimed pass puts it in the page cache (24 GB here).
"$TK" validate "$C" -q > /dev/null || true
run validate "$TK" validate "$C" --format json
run quality "$TK" quality "$C" --format json
run "export (quality deny)" "$TK" export "$C" --out "$S/export_deny" --profile openai --split train=0.9,val=0.1 --seed 1 -q
DENY_DISK=$(du -sm "$S/export_deny" | cut -f1); rm -rf "$S/export_deny"
run "export (quality off)" "$TK" export "$C" --out "$S/export" --profile openai --split train=0.9,val=0.1 --seed 1 --quality off -q
DISK=$(du -sm "$S/export" | cut -f1)
for i in 1 2 3 4; do
  run "validate --shard $i/4" "$TK" validate "$C" --shard "$i/4" --format json
  run "quality --shard $i/4" "$TK" quality "$C" --shard "$i/4" --format json
  run "export --shard $i/4" "$TK" export "$C" --shard "$i/4" --out "$S/export_$i" --profile openai \
    --split train=0.9,val=0.1 --seed 1 --quality off -q
done
for step in validate quality; do
  run "merge ($step)" "$TK" merge "$S/${step}___shard_"{1,2,3,4}_4.out
done
# The export parts' manifests: every part there, every file's bytes read again and hashed.
run "merge (export.json)" "$TK" merge "$S"/export_{1,2,3,4}/export.json --out "$S/export.json"
# Equal as reports: the same files in the same order with the same findings, the same summary.
python3 - "$S" <<'EOF'
import hashlib, json, sys
S = sys.argv[1]
for kind in ("validate", "quality"):
    single, merged = (json.load(open(f"{S}/{name}.out")) for name in (kind, f"merge__{kind}_"))
    same = single["files"] == merged["files"] and single["summary"] == merged["summary"]
    note = "" if same else " (quality's near-duplicates are found within a shard, so shards flag fewer)"
    print(f"{kind}: 4 shards merged {'==' if same else '!='} the single report{note}")
# The export: every split's lines, as a multiset (a count and an order-free sum of SHA-256s).
def fingerprint(paths):
    n, total = 0, 0
    for p in paths:
        with open(p, "rb") as f:
            for line in f:
                n += 1
                total = (total + int.from_bytes(hashlib.sha256(line).digest()[:16], "big")) % (1 << 128)
    return n, total
for split in ("train", "val"):
    single = fingerprint([f"{S}/export/{split}.jsonl"])
    shards = fingerprint([f"{S}/export_{i}/{split}.jsonl" for i in (1, 2, 3, 4)])
    print(f"export {split}.jsonl: {single[0]} lines; the 4 shards' union is {'byte-for-byte the same set' if single == shards else 'DIFFERENT'}")
single, merged = (json.load(open(p)) for p in (f"{S}/export/export.json", f"{S}/export.json"))
same = all(single["counts"][k] == merged["counts"][k] for k in ("input_threads", "exported", "skipped"))
print(f"export.json: the 4 parts' merged manifest {'counts the same' if same else 'counts DIFFERENTLY'} as the single export's")
EOF
rm -rf "$S/export" "$S"/export_?
echo
echo "$N threads ($(du -sm "$C" | cut -f1) MB on disk), $(nproc) cores:"
echo "| step | seconds | peak RSS (MB) |"
echo "|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo "export's disk: ${DISK} MB (quality off), ${DENY_DISK} MB (quality deny)"
