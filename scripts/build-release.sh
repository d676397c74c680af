#!/usr/bin/env bash
# `make release`: a release build of ivpack that runs without the Swift toolchain.
#
# --static-swift-stdlib links the Swift runtime, Foundation and Dispatch into the binary, so nothing
# points into the toolchain's folder (a plain `swift build -c release` gives a RUNPATH of
# /opt/swift/usr/lib/swift/linux and fails with exit 127 where the toolchain is absent). The C
# libraries (libcrypto, libarchive, libgit2, libsqlite3, ...) stay dynamic: Debian's packages
# bring their security updates. The build has its own scratch folder, so it does not rebuild the
# debug build's .build (or the other way round).
#
# Writes dist/bin/ivpack (stripped) and dist/debug/ivpack.debug (its symbols, linked by
# .gnu_debuglink: gdb finds them when the file is beside the binary or under /usr/lib/debug).
# The commit and build time go into the binary through a header the C target CIVPackBuildStamp
# picks up (removed again after the build, so that a plain `swift build` says "unknown").
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scratch="${RELEASE_SCRATCH:-.build-release}"
dist="${DIST:-dist}"

commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit-dirty"
fi
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    date="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
else
    date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
case "$commit$date" in
*[!A-Za-z0-9:.+-]*) echo "build-release: unexpected characters in '$commit' or '$date'" >&2; exit 2 ;;
esac

stamp_dir="Sources/CIVPackBuildStamp/generated"
cleanup() { rm -rf -- "$stamp_dir"; }
trap cleanup EXIT
mkdir -p "$stamp_dir"
printf '#define IVPACK_BUILD_COMMIT "%s"\n#define IVPACK_BUILD_DATE "%s"\n' "$commit" "$date" >"$stamp_dir/build_stamp.h"
# The header is found through __has_include, which the compiler's dependency file does not record
# while the header is absent: touching the source makes the build compile it again.
touch Sources/CIVPackBuildStamp/stamp.c

echo "build-release: swift build -c release --static-swift-stdlib --scratch-path $scratch (commit $commit, $date)" >&2
start=$(date +%s)
swift build -c release --product ivpack --static-swift-stdlib --scratch-path "$scratch"
end=$(date +%s)
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/ivpack"

mkdir -p "$dist/bin" "$dist/debug"
objcopy --only-keep-debug "$bin" "$dist/debug/ivpack.debug"
strip --strip-all -o "$dist/bin/ivpack.tmp" "$bin"
objcopy --add-gnu-debuglink="$dist/debug/ivpack.debug" "$dist/bin/ivpack.tmp"
chmod 0755 "$dist/bin/ivpack.tmp"
mv -f "$dist/bin/ivpack.tmp" "$dist/bin/ivpack"

# Nothing may point into the toolchain: no RUNPATH but SwiftPM's own $ORIGIN (the binary's
# folder), and every library resolved outside the toolchain.
if readelf -d "$dist/bin/ivpack" | grep -E 'R(UN)?PATH' | grep -v -F 'path: [$ORIGIN]'; then
    echo "build-release: $dist/bin/ivpack has a RUNPATH/RPATH besides \$ORIGIN" >&2
    exit 1
fi
toolchain="$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")"
if ldd "$dist/bin/ivpack" | grep -F -e "$toolchain" -e "not found"; then
    echo "build-release: $dist/bin/ivpack needs a library from the toolchain ($toolchain) or a missing one" >&2
    exit 1
fi
echo "build-release: built in $((end - start)) s; $bin $(stat -c %s "$bin") bytes," \
    "$dist/bin/ivpack $(stat -c %s "$dist/bin/ivpack") bytes (stripped)" >&2
"$dist/bin/ivpack" --version
