#!/usr/bin/env bash
# Install benchmark (issue 15): `ivpack install` of the big and of the small payload against
# `tar -xf BUNDLE -C DIR && sync` of the same bundle and `rauc extract` of a RAUC bundle of the
# same payload, in the same run; then the time of `ivpack rollback` between two installed
# releases of that payload. tar checks nothing; install checks the signatures, every header and
# every chunk of every file while it extracts, flushes the release (syncfs), renames it into
# place, switches `current` and records the state.
#
#   1. builds ivpack in release (.build-release), unless IVPACK names an ivpack binary;
#   2. in a temporary folder under ${BENCH_DIR:-/tmp} (removed on exit), makes the two payloads
#      of Benchmarks/bench.sh ("big": one random file of BENCH_BIG_SIZE (2G); "small":
#      BENCH_SMALL_COUNT (20000) random files totalling BENCH_SMALL_TOTAL (1G)), one at a time,
#      each built into two bundles (versions V1.0.0.1 and V9.9.9.2, same payload) signed by the
#      development PKI's required roles, and, when rauc is installed, into a RAUC 1.8 verity
#      bundle (uncompressed squashfs, as bench.sh) signed by a throwaway ECDSA CA;
#   3. times each step BENCH_RUNS (3) times with GNU time, the steps interleaved (tar, install,
#      rauc, tar, install, ...), each into a fresh, empty file system, and keeps the median wall
#      time and the largest peak RSS;
#   4. installs both versions into a fresh file system (untimed) and times `ivpack rollback`
#      BENCH_RUNS times (back and forth between the two), checking each time that `current`
#      switched and that no release folder was copied (same inode before and after);
#   5. prints one table with the ratios to `tar -xf && sync`.
#
# A fresh file system per timed run: as root, with mkfs.ext4 and losetup, each payload gets an
# ext4 image under the work folder, filled with zeros once (so every run overwrites allocated
# blocks, as on a partition) and attached with `losetup --direct-io=on` (no second page cache
# in between); before every timed run it is formatted again (mkfs.ext4, untimed) and mounted,
# and unmounted after. Why: deleting the previous run's 20,000 files before the next run made
# ext4's inode allocation scan the recently freed inodes (`recently_deleted`), ~45 % of the
# samples of a small-file install, unevenly between runs. Otherwise (not root, no mkfs.ext4 or
# losetup, or BENCH_FRESH_FS=0) each run goes into a new folder after the previous one was
# removed and `sync` run, with a note in the output.
#
# rauc extract is timed as `rauc extract --keyring CA BUNDLE DIR && sync`: it does not flush,
# and tar and install are measured up to their data being on disk. A verity bundle because
# `rauc extract` checks every payload byte against its hash tree there (see bench.sh).
#
# Page cache: warm for the bundles (read before the runs), cold for the target file system.
# Knobs: IVPACK, BENCH_DIR, BENCH_RUNS, BENCH_BIG_SIZE, BENCH_SMALL_COUNT, BENCH_SMALL_TOTAL,
# BENCH_FRESH_FS (auto|0), BENCH_KINDS ("big small").
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'bench-install: %s\n' "$*" >&2; }
die() { printf 'bench-install: error: %s\n' "$*" >&2; exit 1; }

ivpack=""
if [ -n "${IVPACK:-}" ]; then
    ivpack="$(command -v -- "$IVPACK" || true)"
    [ -n "$ivpack" ] && [ -f "$ivpack" ] && [ -x "$ivpack" ] || die "IVPACK=$IVPACK is not an executable file"
    ivpack="$(cd "$(dirname "$ivpack")" && pwd)/$(basename "$ivpack")"
fi
cd "$repo"

to_bytes() { local v="$1"; v="${v%B}"; v="${v%i}"; numfmt --from=iec -- "$v" 2>/dev/null || return 1; }
runs="${BENCH_RUNS:-3}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$runs is not a whole number >= 1"
big_bytes="$(to_bytes "${BENCH_BIG_SIZE:-2G}")" || die "BENCH_BIG_SIZE is not a size"
small_total="$(to_bytes "${BENCH_SMALL_TOTAL:-1G}")" || die "BENCH_SMALL_TOTAL is not a size"
small_count="${BENCH_SMALL_COUNT:-20000}"
[[ "$small_count" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SMALL_COUNT=$small_count is not a whole number >= 1"
[ "$big_bytes" -ge 1048576 ] || die "BENCH_BIG_SIZE must be at least 1M (RAUC refuses tiny bundles)"
kinds="${BENCH_KINDS:-big small}"
for kind in $kinds; do case "$kind" in big|small) ;; *) die "BENCH_KINDS: $kind is not big or small" ;; esac; done
base="${BENCH_DIR:-/tmp}"
[ -d "$base" ] && [ -w "$base" ] || die "BENCH_DIR=$base is not a writable folder"
[ -x /usr/bin/time ] || die "needs GNU time (/usr/bin/time)"

fresh_fs="${BENCH_FRESH_FS:-auto}"
case "$fresh_fs" in auto|0) ;; *) die "BENCH_FRESH_FS=$fresh_fs: use auto or 0" ;; esac
fs_note=""
if [ "$fresh_fs" = 0 ]; then
    fs_note="BENCH_FRESH_FS=0"
elif [ "$(id -u)" != 0 ]; then
    fs_note="not root"
elif ! command -v mkfs.ext4 >/dev/null 2>&1 || ! command -v losetup >/dev/null 2>&1; then
    fs_note="no mkfs.ext4 or losetup"
fi
[ -z "$fs_note" ] && fresh_fs=1 || fresh_fs=0

rauc_note=""
if ! command -v rauc >/dev/null 2>&1; then
    rauc_note="not run (rauc not installed)"
elif ! command -v mksquashfs >/dev/null 2>&1; then
    rauc_note="not run (mksquashfs not installed)"
fi

if [ -z "$ivpack" ]; then
    log "building ivpack (swift build -c release --scratch-path .build-release --product ivpack)"
    swift build -c release --scratch-path .build-release --product ivpack >&2
    ivpack="$(swift build -c release --scratch-path .build-release --show-bin-path)/ivpack"
fi
[ -x "$ivpack" ] || die "no ivpack binary at $ivpack"

largest=$(( big_bytes > small_total ? big_bytes : small_total ))
# Payload, two bundles, a RAUC bundle, then the file system image (two releases) or folders.
need=$(( 7 * largest + 1073741824 ))
avail="$(df -P -B1 "$base" | awk 'NR == 2 { print $4 }')"
[ "$avail" -ge "$need" ] || die "$base has $avail bytes free; this run needs about $need (payload, bundles, extraction)"

work="$(mktemp -d "$base/ivpack-bench-install.XXXXXX")"
mnt="$work/mnt"
loopdev=""
cleanup() {
    if mountpoint -q -- "$mnt" 2>/dev/null; then umount -- "$mnt" || true; fi
    if [ -n "$loopdev" ]; then losetup -d "$loopdev" || true; fi
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export SOURCE_DATE_EPOCH=1764000000 LC_ALL=C

# shellcheck source=Benchmarks/payloads.sh
. "$repo/Benchmarks/payloads.sh"
make_payload() { # make_payload DIR big|small
    if [ "$2" = big ]; then
        bench_big "$1" "$big_bytes" || die "could not write the big payload in $1"
    else
        bench_small "$1" "$small_count" "$small_total" || die "could not write the small-file tree in $1"
    fi
}

pki="$work/pki"
"$ivpack" keys init-dev "$pki" >/dev/null 2>&1 || die "ivpack keys init-dev failed"
policy="$pki/trust-policy.yaml"

if [ -z "$rauc_note" ]; then
    (
        set -e
        mkdir -p "$work/rauc-keys"
        cd "$work/rauc-keys"
        openssl ecparam -genkey -name prime256v1 -noout -out ca.key
        openssl req -x509 -new -key ca.key -out ca.pem -days 30 -subj "/CN=ivpack bench RAUC CA" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        openssl ecparam -genkey -name prime256v1 -noout -out signer.key
        openssl req -new -key signer.key -subj "/CN=ivpack bench RAUC signer" -out signer.csr
        printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' >signer.ext
        openssl x509 -req -in signer.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
            -extfile signer.ext -out signer.pem
    ) >"$work/rauc-keys.log" 2>&1 || { cat "$work/rauc-keys.log" >&2; die "could not create the RAUC keys with openssl"; }
fi
raucca="$work/rauc-keys/ca.pem"

# ---------------------------------------------------------------------------------------------
# The target file system: fs_setup BYTES once per payload, then fs_fresh before and fs_release
# after every timed run; fs_teardown at the end. fs_fresh sets $target_base, an empty folder.

fs_setup() {
    [ "$fresh_fs" = 1 ] || return 0
    local bytes="$1" image="$work/fs.img" size
    # Two releases of the payload (the rollback step), ext4's metadata and a margin.
    size=$(( (2 * bytes * 23 / 20 + 536870912) / 1048576 ))
    log "filling a ${size} MiB ext4 image with zeros (untimed)"
    dd if=/dev/zero of="$image" bs=4M count=$(( (size + 3) / 4 )) oflag=direct status=none \
        || die "could not write the image $image"
    if ! loopdev="$(losetup --find --show --direct-io=on -- "$image" 2>"$work/losetup.log")"; then
        cat "$work/losetup.log" >&2
        loopdev=""
        fresh_fs=0
        fs_note="losetup failed"
        rm -f -- "$image"
        log "note: losetup failed; each run goes into a new folder of $base instead"
    fi
    mkdir -p "$mnt"
}

fs_fresh() {
    if [ "$fresh_fs" = 1 ]; then
        # nodiscard: the image's blocks stay allocated (written once by fs_setup), as on a disk.
        mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$loopdev" >"$work/mkfs.log" 2>&1 \
            || { cat "$work/mkfs.log" >&2; die "mkfs.ext4 $loopdev failed"; }
        mount -t ext4 -- "$loopdev" "$mnt" || die "could not mount $loopdev on $mnt"
        target_base="$mnt"
    else
        rm -rf -- "$work/fs"
        mkdir -p -- "$work/fs"
        target_base="$work/fs"
    fi
    sync
}

fs_release() {
    if [ "$fresh_fs" = 1 ]; then
        umount -- "$mnt" || die "could not unmount $mnt"
    else
        rm -rf -- "$work/fs"
    fi
}

fs_teardown() {
    if [ -n "$loopdev" ]; then
        losetup -d "$loopdev" || true
        loopdev=""
    fi
    rm -f -- "$work/fs.img"
}

# ---------------------------------------------------------------------------------------------

declare -A WALL RSS WALLS
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# once KEY COMMAND: one timed run of COMMAND (a shell string using $target), its wall time and
# peak RSS added to KEY's.
once() {
    local key="$1" command="$2" wall rss
    export target
    /usr/bin/time -f '%e %M' -o "$work/time" bash -c "$command" >"$work/out.log" 2>&1 \
        || { tail -n 20 "$work/out.log" >&2; die "$key failed"; }
    read -r wall rss <"$work/time"
    WALLS[$key]="${WALLS[$key]:-} $wall"
    if [ "$rss" -gt "${RSS[$key]:-0}" ]; then RSS[$key]="$rss"; fi
    log "$key: $wall s, peak RSS $(( rss / 1024 )) MiB"
}

summarise() { # summarise KEY
    WALL[$1]="$(printf '%s\n' ${WALLS[$1]} | median)"
}

set_version() { # set_version DIR MODEL VERSION: the release files of DIR for VERSION
    local saved="$bench_version"
    bench_version="$3"
    bench_release "$1" "$2"
    bench_version="$saved"
}

build_bundle() { # build_bundle DIR OUT
    (cd "$1" && "$ivpack" build --force --spec ivpack.yaml --output "$2" >/dev/null) || die "ivpack build of $2 failed"
    for role in release-manager quality; do
        "$ivpack" sign "$2" --role "$role" --key "$pki/signers/$role.key" --cert "$pki/signers/$role.pem" \
            --chain "$pki/intermediate-ca.pem" >/dev/null || die "ivpack sign of $2 failed"
    done
}

# rauc_bundle DIR KIND OUT: a verity bundle of DIR/payload (big: the file as an image slot).
rauc_bundle() {
    local dir="$1" kind="$2" out="$3" rin="$1/rauc-in"
    mkdir -p "$rin"
    if [ "$kind" = big ]; then ln -- "$dir/payload/big.bin" "$rin/big.bin"; else cp -al -- "$dir/payload" "$rin/payload"; fi
    {
        printf '[update]\ncompatible=ivpack-bench\nversion=1.0.0\n\n[bundle]\nformat=verity\n'
        [ "$kind" = big ] && printf '\n[image.rootfs]\nfilename=big.bin\n'
    } >"$rin/manifest.raucm"
    rauc bundle --cert="$work/rauc-keys/signer.pem" --key="$work/rauc-keys/signer.key" \
        "--mksquashfs-args=-noI -noD -noF -noX" "$rin" "$out" >"$work/rauc-bundle.log" 2>&1 \
        || { tail -n 20 "$work/rauc-bundle.log" >&2; die "rauc bundle failed"; }
    rm -rf -- "$rin"
}

inodes() { stat -c '%n %i' -- "$target"/releases/*/ | sort; }

steps=("tar -xf && sync" "ivpack install")
[ -z "$rauc_note" ] && steps+=("rauc extract && sync")

for kind in $kinds; do
    dir="$work/$kind"
    model=BENCH-BIG
    [ "$kind" = small ] && model=BENCH-SMALL
    bytes=$big_bytes
    [ "$kind" = small ] && bytes=$small_total
    log "making the $kind payload and its bundles"
    make_payload "$dir" "$kind"
    bundle="$work/$kind.ivp"
    bundle2="$work/$kind-2.ivp"
    build_bundle "$dir" "$bundle"
    set_version "$dir" "$model" V9.9.9.2
    build_bundle "$dir" "$bundle2"
    raucb="$work/$kind.raucb"
    [ -z "$rauc_note" ] && rauc_bundle "$dir" "$kind" "$raucb"
    rm -rf -- "$dir"
    fs_setup "$bytes"
    cat "$bundle" >/dev/null   # warm
    [ -z "$rauc_note" ] && cat "$raucb" >/dev/null

    for ((i = 0; i < runs; i++)); do
        for step in "${steps[@]}"; do
            fs_fresh
            target="$target_base/x"
            case "$step" in
                tar*) command="mkdir -p \"\$target\" && tar -xf '$bundle' -C \"\$target\" && sync" ;;
                ivpack*) command="'$ivpack' install '$bundle' --trust '$policy' --root \"\$target\" --quiet" ;;
                rauc*) command="rauc extract --keyring='$raucca' '$raucb' \"\$target\" && sync" ;;
            esac
            once "$step|$kind" "$command"
            fs_release
        done
    done
    for step in "${steps[@]}"; do summarise "$step|$kind"; done

    # Rollback: both versions installed (untimed), then `rollback` back and forth.
    fs_fresh
    target="$target_base/root"
    "$ivpack" install "$bundle" --trust "$policy" --root "$target" --quiet >/dev/null || die "install of $bundle failed"
    "$ivpack" install "$bundle2" --trust "$policy" --root "$target" --quiet >/dev/null || die "install of $bundle2 failed"
    sync
    before_inodes="$(inodes)"
    for ((i = 0; i < runs; i++)); do
        was="$(readlink -- "$target/current")"
        once "ivpack rollback|$kind" "'$ivpack' rollback --root \"\$target\" --reason bench"
        now="$(readlink -- "$target/current")"
        [ "$now" != "$was" ] || die "rollback did not switch current (still $was)"
        [ "$(inodes)" = "$before_inodes" ] || die "rollback changed the release folders (not a switch)"
    done
    summarise "ivpack rollback|$kind"
    fs_release
    fs_teardown
    rm -f -- "$bundle" "$bundle2" "$raucb"
done

# ---------------------------------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0 ? "%.2fx" : "n/a"), a / b }'; }
printf '\n%-22s %-7s %10s %12s %14s\n' step payload "wall (s)" "/ tar+sync" "peak RSS (MiB)"
for kind in $kinds; do
    for step in "tar -xf && sync" "ivpack install" "rauc extract && sync" "ivpack rollback"; do
        if [ "$step" = "rauc extract && sync" ] && [ -n "$rauc_note" ]; then
            printf '%-22s %-7s %s\n' "$step" "$kind" "$rauc_note"
            continue
        fi
        r="-"
        case "$step" in tar* | "ivpack rollback") ;; *) r="$(ratio "${WALL[$step|$kind]}" "${WALL[tar -xf && sync|$kind]}")" ;; esac
        printf '%-22s %-7s %10s %12s %14s\n' "$step" "$kind" "${WALL[$step|$kind]}" "$r" "$(( ${RSS[$step|$kind]} / 1024 ))"
    done
done
printf '\n(big: %s bytes; small: %s files, %s bytes; %s run(s) each, interleaved; %s cores)\n' \
    "$big_bytes" "$small_count" "$small_total" "$runs" "$(nproc)"
printf 'all runs (s):'
for kind in $kinds; do for step in "${steps[@]}" "ivpack rollback"; do printf ' [%s|%s:%s]' "$step" "$kind" "${WALLS[$step|$kind]}"; done; done
printf '\n'
if [ "$fresh_fs" = 1 ]; then
    printf 'target: a fresh ext4 file system per timed run (loop device, direct I/O, mkfs.ext4 before each)\n'
else
    printf 'note: no fresh file system per run (%s): each run into a new folder after rm -rf of the last and sync;\n' "$fs_note"
    printf '      ext4 then pays for the recently deleted inodes unevenly (docs/performance.md)\n'
fi
