#!/usr/bin/env bash
# Validation speed: threadkit (schema + every semantic rule) against check-jsonschema, ajv-cli and a
# Python jsonschema loop using the same schema, plus `cat` of every file as the floor.
# Interleaved rounds on the same corpus; prints files/s per tool, ratios, and threadkit's peak memory.
#
#   bash bench/validate.sh [N=20000] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
ROUNDS=${2:-3}
OUT=bench/out
CORPUS=$OUT/corpus_$N
SCHEMA=schemas/thread.openai_v1.schema.json
mkdir -p "$OUT"

[ -d "$CORPUS" ] || python3 bench/make_corpus.py "$N" "$CORPUS"
cargo build --release --quiet
TK=target/release/threadkit

# Peers, installed locally so the bench needs nothing global.
if [ ! -x "$OUT/venv/bin/check-jsonschema" ]; then
  python3 -m venv "$OUT/venv"
  "$OUT/venv/bin/pip" install --quiet check-jsonschema jsonschema
fi
if [ ! -x "$OUT/node/node_modules/.bin/ajv" ]; then
  mkdir -p "$OUT/node" && (cd "$OUT/node" && npm install --silent --no-audit --no-fund ajv-cli@5 ajv-formats@2 >/dev/null)
fi
AJV=$OUT/node/node_modules/.bin/ajv
find "$CORPUS" -name '*.json' | sort > "$OUT/files.txt"
# The slow peers are measured on a slice; files/s is what is compared.
SLICE=$(( N < 2000 ? N : 2000 ))
head -n "$SLICE" "$OUT/files.txt" > "$OUT/slice.txt"

now() { date +%s.%N; }
declare -A TOTAL_T TOTAL_N
run() { # name files command...
  local name=$1 files=$2; shift 2
  local t0 t1; t0=$(now); "$@" >/dev/null 2>&1 || true; t1=$(now)
  TOTAL_T[$name]=$(python3 -c "print(${TOTAL_T[$name]:-0} + $t1 - $t0)")
  TOTAL_N[$name]=$(( ${TOTAL_N[$name]:-0} + files ))
}

for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  run cat "$N" sh -c "xargs cat < $OUT/files.txt > /dev/null"
  run threadkit "$N" "$TK" validate "$CORPUS" --format json
  run threadkit-schema-only "$N" "$TK" validate "$CORPUS" --format json --ignore TK201,TK202,TK203,TK204,TK205,TK206,TK207,TK208,TK209,TK210,TK301,TK302,TK303,TK401,TK402,TK403,TK404,TK405,TK406,TK407,TK408,TK409,TK010,TK011
  run ajv-cli "$N" sh -c "cd $CORPUS && ../../../$AJV validate --spec=draft2020 --strict=false -s ../../../$SCHEMA -d '*.json'"
  run check-jsonschema "$SLICE" sh -c "xargs $OUT/venv/bin/check-jsonschema --schemafile $SCHEMA < $OUT/slice.txt"
  run python-jsonschema "$SLICE" sh -c "$OUT/venv/bin/python bench/py_jsonschema_loop.py $SCHEMA < $OUT/slice.txt"
done

rate() { python3 -c "print(${TOTAL_N[$1]} / ${TOTAL_T[$1]})"; }
TKR=$(rate threadkit)
printf '\n%-24s %12s %14s\n' tool files/s "threadkit is"
for name in cat threadkit threadkit-schema-only ajv-cli check-jsonschema python-jsonschema; do
  R=$(rate "$name")
  printf '%-24s %12.0f %13.2fx\n' "$name" "$R" "$(python3 -c "print($TKR / $R)")"
done
echo
echo "corpus: $N files, $(du -sh "$CORPUS" | cut -f1); cores: $(nproc); rounds: $ROUNDS (slow peers on $SLICE files)"
/usr/bin/time -f "threadkit peak RSS: %M KB over $N files" "$TK" validate "$CORPUS" --format json > /dev/null || true
