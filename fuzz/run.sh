#!/usr/bin/env bash
# Long fuzzing runs (specs/reliability.md, "Hostile input"): the configuration loader
# (deploy.yml, destination file, ERB) with the pure stages after it, and the secrets parser,
# under libFuzzer, seeded with the configuration fixtures. The short run of the same checks is
# part of the normal test suite (tests/reliability_fuzz.rs).
#
#   fuzz/run.sh [SECONDS]     each target fuzzes for SECONDS (default 360: 12 minutes of CPU)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Per target it prints
# the inputs executed, the CPU time, the coverage and the corpus reached. An input that panics
# or takes 10 s (-timeout=10: a hang) stops the target and is kept in fuzz/artifacts/<target>/;
# replay it with `cargo +nightly fuzz run <target> <file>`. Exits non-zero if any target failed.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-360}
logs=target/logs
mkdir -p corpus/config corpus/secrets "$logs"

fixtures=../tests/fixtures/config
cp "$fixtures"/valid/*.yml "$fixtures"/invalid/*.yml corpus/config/
{ cat "$fixtures/valid/21-destination.yml"; printf '\0'; cat "$fixtures/valid/21-destination.staging.yml"; } \
  >corpus/config/seed-destination
{ cat "$fixtures/valid/19-erb.yml"; printf '\0\0%s' 'value with "quotes" and ; $(x)'; } >corpus/config/seed-erb
printf '%s\n' 'KAMAL_REGISTRY_PASSWORD=abc' 'export DB="postgres://$USER@db/$DB_NAME"' \
  "LITERAL='\$(not run)'" 'CMD=$(echo run)' 'KEY: value # comment' 'MULTI="a\nb"' \
  >corpus/secrets/seed-basic

failed=0
for target in config secrets; do
  status=0
  # Built first, so that the time below is the fuzzing's alone.
  cargo +nightly fuzz build "$target" >"$logs/$target.build.log" 2>&1 || {
    echo "$target: the build failed, see $logs/$target.build.log"; failed=1; continue; }
  /usr/bin/time -o "$logs/$target.time" -f '%U %S %e' \
    cargo +nightly fuzz run "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -dict="$target.dict" \
      -print_final_stats=1 >"$logs/$target.log" 2>&1 || status=$?
  read -r user system wall <"$logs/$target.time"
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target.log" | tail -n 1)
  coverage=$(grep -o 'cov: [0-9]*' "$logs/$target.log" | tail -n 1)
  corpus_size=$(ls "corpus/$target" | wc -l)
  printf '%-8s %s inputs in %.0f s of CPU (%.0f s wall), %s, corpus %s files, %s\n' \
    "$target" "${executions:-?}" "$(echo "$user + $system" | bc)" "$wall" "${coverage:-cov: ?}" \
    "$corpus_size" "$([ "$status" -eq 0 ] && echo 'no crash, no hang' || echo "FAILED (exit $status), see $logs/$target.log")"
  [ "$status" -eq 0 ] || failed=1
done
exit "$failed"
