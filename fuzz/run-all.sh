#!/usr/bin/env bash
# Runs every fuzz target (or those named) to N executions, one after another, and prints the
# table fuzz/README.md keeps. New inputs go to a work corpus outside the tree; the committed
# seeds under corpus/ are read, never written.
#
#   fuzz/run-all.sh [N] [TARGET...]      N defaults to 10000000
#   FUZZ_WORK=DIR   where the work corpora, logs and crash artifacts go (/tmp/acme-doctor-fuzz)
set -uo pipefail
cd "$(dirname "$0")"
runs=${1:-10000000}
shift || true
work=${FUZZ_WORK:-/tmp/acme-doctor-fuzz}
mkdir -p "$work"
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi

# Inputs longer than this are not tried, so a lean target runs at thousands of executions a
# second: most seeds fit (longer ones are tried cut short), and the caps of each parser, far
# above these, are proved by the unit tiers and tests/held_bounds.rs instead.
max_len() {
    case $1 in
        facts_file | ruleset | http_answer) echo 65536 ;;
        web_config) echo 8192 ;;
        ruleset_parse) echo 2048 ;;
        domain) echo 1024 ;;
        *) echo 4096 ;;
    esac
}
# libFuzzer's coverage, without a sanitizer by default: LeakSanitizer's allocator takes half
# the time of an allocating parser (perf), and this is safe Rust. FUZZ_SANITIZER=leak (or
# address) checks leaks and memory errors, at a fraction of the speed.
sanitizer=${FUZZ_SANITIZER:-none}

commit=$(git rev-parse --short=12 HEAD)
git diff --quiet HEAD -- .. || commit="$commit (dirty)"
nice -n 19 cargo +nightly fuzz build -s "$sanitizer" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }

rows=()
status=0
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    start=$(date +%s.%N)
    nice -n 19 cargo +nightly fuzz run -s "$sanitizer" "$t" "$work/corpus/$t" "corpus/$t" -- \
        -runs="$runs" -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$t")" \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" >"$work/$t.log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
    secs=$(echo "$end - $start" | bc)
    rate=$(echo "${execs:-0} / $secs" | bc)
    final=$(grep -v '^stat::' "$work/$t.log" | grep -v '^\s*$' | tail -1)
    [ $rc -eq 0 ] || status=1
    row=$(printf '| `%s` | %s | %.0f | %s | %s | %s | `%s` |' "$t" "${execs:-?}" "$secs" "$rate" "$(max_len "$t")" "$commit" "$final")
    rows+=("$row")
    echo "$row"
done
echo
echo "| target | executions | wall s | exec/s | max_len | commit | libFuzzer's final line |"
echo "|---|---:|---:|---:|---:|---|---|"
printf '%s\n' "${rows[@]}"
exit $status
