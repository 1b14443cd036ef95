#!/usr/bin/env bash
# Builds the seed corpus fuzz/corpus/exposition from the crate's testdata (with the
# `# why:`/`# expect:` header lines removed) and, when present, the OpenMetrics
# conformance corpus. Run from anywhere; cargo fuzz then extends the directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/corpus/exposition"
mkdir -p "$out"
for f in "$here"/../services/exposition/testdata/*/*/*.txt; do
    kind="$(basename "$(dirname "$(dirname "$f")")")-$(basename "$(dirname "$f")")"
    sed -e '/^# why: /d' -e '/^# expect: /d' "$f" > "$out/$kind-$(basename "$f")"
done
om="${OPENMETRICS_CORPUS:-$here/../../shared/testdata/openmetrics/parsers}"
if [ -d "$om" ]; then
    for d in "$om"/*/; do
        cp "$d/metrics" "$out/om-$(basename "$d")"
    done
fi
echo "$(ls "$out" | wc -l) seeds in $out"
