#!/usr/bin/env bash
# A/B timing of two ivpack binaries on the same payloads, interleaved run by run, so that the
# noise of a shared 2-core machine falls on both alike: build and verify of one big random file
# (BENCH_BIG_SIZE, 2G) and of a tree of BENCH_SMALL_COUNT (20000) files (BENCH_SMALL_TOTAL, 1G).
# Used to show a change is speed-neutral ("figures unchanged within noise"):
#
#   IVPACK_A=old/ivpack IVPACK_B=.build-release/release/ivpack bash Benchmarks/ab.sh
#
# Each binary builds, signs (both development roles, untimed) and verifies its own bundle.
# Prints, per step, the median wall time of each (BENCH_RUNS, default 3), the range and B/A.
set -euo pipefail
a="${IVPACK_A:?IVPACK_A: the first ivpack binary}"
b="${IVPACK_B:?IVPACK_B: the second ivpack binary}"
runs="${BENCH_RUNS:-3}"
big="${BENCH_BIG_SIZE:-2G}"
count="${BENCH_SMALL_COUNT:-20000}"
total="$(numfmt --from=iec "${BENCH_SMALL_TOTAL:-1G}")"
work="$(mktemp -d "${BENCH_DIR:-/tmp}/ivpack-ab.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
export SOURCE_DATE_EPOCH=1764000000 LC_ALL=C

# shellcheck source=Benchmarks/payloads.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/payloads.sh"
bench_big "$work/big" "$(numfmt --from=iec "$big")" || { echo "ab: could not write the big payload" >&2; exit 1; }
bench_small "$work/small" "$count" "$total" || { echo "ab: could not write the small-file tree" >&2; exit 1; }
"$b" keys init-dev "$work/pki" >/dev/null
pki="$work/pki"

declare -A T
timeit() { # timeit KEY COMMAND...: appends the wall time of COMMAND to T[KEY]
    local key="$1"; shift
    sync
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; echo "ab: $key failed" >&2; exit 1; }
    T[$key]="${T[$key]:-} $(cut -d' ' -f1 "$work/time")"
    T[$key.rss]="$(cut -d' ' -f2 "$work/time")"
}
for payload in big small; do
    for (( i = 1; i <= runs; i++ )); do
        for side in A B; do
            bin="$a"; [ "$side" = B ] && bin="$b"
            bundle="$work/$payload-$side.ivp"
            rm -f "$bundle"
            timeit "$payload build $side" "$bin" build --force --spec "$work/$payload/ivpack.yaml" --output "$bundle" --quiet
            for role in release-manager quality; do
                "$bin" sign "$bundle" --role "$role" --key "$pki/signers/$role.key" --cert "$pki/signers/$role.pem" \
                    --chain "$pki/intermediate-ca.pem" >/dev/null
            done
            "$bin" verify "$bundle" --trust "$pki/trust-policy.yaml" --quiet >/dev/null  # warm the page cache
            timeit "$payload verify $side" "$bin" verify "$bundle" --trust "$pki/trust-policy.yaml" --quiet
        done
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-14s %10s %10s %8s   %-22s %-22s %s\n' step "A median" "B median" "B/A" "A runs" "B runs" "peak RSS A/B (MiB)"
for payload in big small; do
    for step in build verify; do
        ma="$(echo "${T[$payload $step A]}" | median)"; mb="$(echo "${T[$payload $step B]}" | median)"
        printf '%-14s %9ss %9ss %8.2f   %-22s %-22s %s / %s\n' "$payload $step" "$ma" "$mb" "$(echo "$mb / $ma" | bc -l)" \
            "${T[$payload $step A]}" "${T[$payload $step B]}" "$(( T[$payload $step A.rss] / 1024 ))" "$(( T[$payload $step B.rss] / 1024 ))"
    done
done
