#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer + AddressSanitizer) and runs each for a fixed time.
#
#   Fuzz/run.sh                          every target, FUZZ_SECONDS each (default 600)
#   Fuzz/run.sh FuzzManifest FuzzSpec    only these
#   FUZZ_SECONDS=60 make fuzz            the same through make
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 600: the "at least 10 minutes each" of issue 8)
#   FUZZ_PARALLEL  targets run at once (default 1; 2 uses both cores of a 2-core machine)
#   FUZZ_FRESH=1   start from the committed seeds only, dropping the corpus grown by earlier runs
#   FUZZ_NO_BUILD=1  use the targets already built
#
# Each target starts from its committed seeds (Fuzz/corpus/TARGET, never written to) merged into
# a work corpus (Fuzz/.work/corpus/TARGET, kept between runs, ignored by git), plus the inputs of
# Fuzz/regressions/TARGET. A crash, leak, timeout or out-of-memory input is written to
# Fuzz/crashes/TARGET/; turn it into a regression (docs/fuzzing.md). Logs: Fuzz/.work/logs/.
# Exit status: 0 when no target found anything, 1 when one did, 2 for a usage or build error.
set -euo pipefail

fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${FUZZ_SECONDS:-600}"
parallel="${FUZZ_PARALLEL:-1}"
all_targets=(FuzzManifest FuzzSpec FuzzReleaseNotes FuzzBundleReader FuzzTrustPolicy FuzzLicenseGrant
    FuzzPDFInfo FuzzGGUF FuzzSafetensors FuzzPipRequirements)

case "$seconds" in '' | *[!0-9]*) echo "fuzz: FUZZ_SECONDS must be a whole number of seconds" >&2; exit 2 ;; esac
case "$parallel" in '' | *[!0-9]* | 0) echo "fuzz: FUZZ_PARALLEL must be a positive whole number" >&2; exit 2 ;; esac

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    case " ${all_targets[*]} " in *" $t "*) ;; *) echo "fuzz: unknown target $t (targets: ${all_targets[*]})" >&2; exit 2 ;; esac
done

# Per target: largest input, dictionary.
max_len() {
    case "$1" in
        FuzzBundleReader) echo $((1 << 20)) ;;
        FuzzReleaseNotes | FuzzManifest) echo $((64 << 10)) ;;
        *) echo $((16 << 10)) ;;
    esac
}
dictionary() {
    case "$1" in
        FuzzManifest) echo json.dict ;;
        FuzzSpec) echo spec.dict ;;
        FuzzReleaseNotes) echo notes.dict ;;
        FuzzBundleReader) echo tar.dict ;;
        FuzzTrustPolicy) echo trust.dict ;;
        FuzzLicenseGrant) echo license.dict ;;
        FuzzPDFInfo) echo pdf.dict ;;
        FuzzGGUF) echo gguf.dict ;;
        FuzzSafetensors) echo safetensors.dict ;;
        FuzzPipRequirements) echo requirements.dict ;;
    esac
}

scratch="$fuzz/.build-fuzz"
build_flags=(-c debug --package-path "$fuzz" --scratch-path "$scratch"
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link,address)
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
    echo "==> Building the fuzz targets (swift build ${build_flags[*]})"
    # gold warns once per AddressSanitizer helper symbol ("Cannot export local symbol"): noise.
    swift build "${build_flags[@]}" 2>&1 | { grep -v 'Cannot export local symbol' || true; } ||
        { echo "fuzz: building the fuzz targets failed" >&2; exit 2; }
fi
bin="$(swift build "${build_flags[@]}" --show-bin-path)"

export IVPACK_FUZZ_DIR="$fuzz"
# Swift's own crash backtracer does not mix with AddressSanitizer (it can hang on a crash instead of
# exiting); libFuzzer's deadly-signal handler reports a Swift trap (overflow, force-unwrap) instead.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"
# Leaks are checked per input by libFuzzer (-detect_leaks=1); ASan aborts on the first error.
# A short allocation stack (malloc_context_size) makes the allocation-heavy targets ~1.5x faster;
# replay a finding with ASAN_OPTIONS= for full stacks.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1:malloc_context_size=10:symbolize=1}"
work="$fuzz/.work"
mkdir -p "$work/logs"

run_one() {
    local t="$1"
    local corpus="$work/corpus/$t" crashes="$fuzz/crashes/$t" log="$work/logs/$t.log"
    [ -z "${FUZZ_FRESH:-}" ] || rm -rf -- "$corpus"
    mkdir -p "$corpus" "$crashes"
    # Seeds and regressions are read-only inputs; new finds go to the work corpus only.
    cp -n -- "$fuzz/corpus/$t"/* "$corpus/" 2>/dev/null || true
    local extra=()
    [ -d "$fuzz/regressions/$t" ] && extra+=("$fuzz/regressions/$t")
    local status=0
    "$bin/$t" "$corpus" "${extra[@]}" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$t")" \
        -dict="$fuzz/dict/$(dictionary "$t")" -artifact_prefix="$crashes/" -print_final_stats=1 \
        </dev/null >"$log" 2>&1 || status=$?
    echo "$status" >"$work/logs/$t.status"
}

echo "==> Fuzzing ${targets[*]} for $seconds s each, $parallel at a time"
running=0
for t in "${targets[@]}"; do
    echo "    $t (log: ${work#"$fuzz/"}/logs/$t.log)"
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$parallel" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

found=0
printf '\n%-18s %-7s %12s %8s %8s %8s %8s  %s\n' target result runs seconds cov ft corpus findings
for t in "${targets[@]}"; do
    log="$work/logs/$t.log"
    status="$(cat "$work/logs/$t.status" 2>/dev/null || echo 2)"
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    secs="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)"
    last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    corp="$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")"
    artifacts="$(find "$fuzz/crashes/$t" -type f 2>/dev/null | wc -l)"
    result=ok
    if [ "$status" != 0 ] || [ "$artifacts" -gt 0 ]; then
        result=FOUND
        found=1
    fi
    [ -n "$runs" ] || runs="$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")"
    printf '%-18s %-7s %12s %8s %8s %8s %8s  %s\n' "$t" "$result" "${runs:-?}" "${secs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
        "$([ "$artifacts" -gt 0 ] && echo "$artifacts file(s) in Fuzz/crashes/$t/" || { [ "$status" = 0 ] || echo "exit $status, see $log"; })"
done
if [ "$found" -ne 0 ]; then
    echo
    echo "fuzz: a target found a crash, leak, timeout or out-of-memory input. Reproduce with"
    echo "  $bin/TARGET FILE"
    echo "minimise with -minimize_crash=1 -runs=10000, and add it to Fuzz/regressions/TARGET/ (docs/fuzzing.md)."
    exit 1
fi
