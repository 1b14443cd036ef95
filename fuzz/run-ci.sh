#!/usr/bin/env bash
# Bounded fuzzing for CI on a stable toolchain: every target runs for a fixed time from
# seeds (the crates' testdata, the OpenMetrics corpus, the PromQL differential corpus) and
# fails the build on any crash. Usage: fuzz/run-ci.sh [seconds for the exposition target]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
seconds="${1:-60}"
"$here/seeds.sh" >/dev/null
mkdir -p corpus/promql corpus/remote_write
# One seed per line of the PromQL corpus (comments dropped).
n=0
grep -v '^\s*#' ../services/store/tests/testdata/differential.promql 2>/dev/null | grep -v '^\s*$' |
    while IFS= read -r line; do n=$((n + 1)); printf '%s' "$line" > "corpus/promql/seed-$n"; done || true
run() {
    local target="$1" secs="$2"; shift 2
    echo "== fuzz $target for ${secs}s"
    cargo fuzz run "$target" --sanitizer none "corpus/$target" -- \
        -max_total_time="$secs" -print_final_stats=1 "$@" 2>&1 | tail -n 12
}
run exposition "$seconds" -dict=exposition.dict -max_len=65536
run promql "$((seconds / 3))" -max_len=4096
run remote_write "$((seconds / 3))" -max_len=65536
