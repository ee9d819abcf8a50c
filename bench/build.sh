#!/usr/bin/env bash
# Cold-build times, each in an empty target directory (the crate cache in ~/.cargo is warm:
# downloads are not counted): README command 1 (`cargo run -- validate …`, first output) and
# the whole test suite's build (`cargo test --no-run`). `--timings` reports land in bench/out.
#
#   bash bench/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
cargo fetch --locked -q
for job in run tests; do
  T=$(mktemp -d)
  start=$(date +%s.%N)
  if [ "$job" = run ]; then
    CARGO_TARGET_DIR=$T cargo run -q --locked --timings -- validate fixtures/threads/valid --data-root fixtures/data >/dev/null || true
  else
    CARGO_TARGET_DIR=$T cargo test -q --locked --timings --no-run >/dev/null 2>&1
  fi
  end=$(date +%s.%N)
  cp "$T"/cargo-timings/cargo-timing.html "bench/out/timing-$job.html" 2>/dev/null || true
  python3 -c "s = $end - $start; print(f'$job: {int(s // 60)} min {s % 60:.0f} s cold on $(nproc) cores')"
  rm -rf "$T"
done
