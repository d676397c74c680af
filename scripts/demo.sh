#!/usr/bin/env bash
# End-to-end demo (`make demo`): builds the example release Examples/pulmoscan into a bundle.
#
#   1. builds ivpack (swift build -c release), unless IVPACK names an ivpack binary to use;
#   2. copies Examples/pulmoscan into a fresh temporary folder and makes it a git repository
#      with one commit and the annotated release tag V2.3.1.1024 (what a release pipeline has);
#   3. ivpack build, with SOURCE_DATE_EPOCH = the commit time, into out/ at the repository root;
#   4. ivpack inspect and tar -tf on the bundle.
#
# The commit and tag dates and identities are fixed, so every run gives a byte-identical bundle.
# Works from any current directory; the temporary folder is removed on exit, whatever happens.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# An IVPACK given relative to the caller's folder is resolved before leaving it.
ivpack=""
if [ -n "${IVPACK:-}" ]; then
    ivpack="$(command -v -- "$IVPACK" || true)"
    if [ -z "$ivpack" ] || [ ! -f "$ivpack" ] || [ ! -x "$ivpack" ]; then
        echo "demo: IVPACK=$IVPACK is not an executable file" >&2
        exit 3
    fi
    ivpack="$(cd "$(dirname "$ivpack")" && pwd)/$(basename "$ivpack")"
fi
cd "$repo"

version="V2.3.1.1024"
example="$repo/Examples/pulmoscan"
out="$repo/out"
bundle="$out/pulmoscan-$version.ivp"

step() { printf '\n==> %s\n' "$*"; }

# 1. ivpack itself.
if [ -z "$ivpack" ]; then
    step "Building ivpack (swift build -c release)"
    swift build -c release
    ivpack="$(swift build -c release --show-bin-path)/ivpack"
fi
echo "ivpack: $ivpack ($("$ivpack" --version))"

# 2. The release folder, as a tagged git repository in a temporary folder.
work="$(mktemp -d "${TMPDIR:-/tmp}/ivpack-demo.XXXXXX")"
cleanup() { rm -rf -- "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Preparing the release folder $work/pulmoscan"
cp -R "$example" "$work/pulmoscan"
release="$work/pulmoscan"
# Python caches left by running the example's tools would be untracked noise: drop them.
find "$release" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +

commit_date="2026-11-20T08:00:00+08:00"
(
    cd "$release"
    export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    export GIT_AUTHOR_DATE="$commit_date" GIT_COMMITTER_DATE="$commit_date"
    git init -q -b main .
    git config user.name "PulmoScan Release Pipeline"
    git config user.email "release@example.com"
    git config commit.gpgsign false
    git config tag.gpgsign false
    git add -A
    git commit -q -m "Release $version"
    git tag -a "$version" -m "PulmoScan AI $version"
    git log -1 --format='commit %H (%ci)'
    git describe --exact-match HEAD | sed 's/^/tag    /'
)
SOURCE_DATE_EPOCH="$(git -C "$release" log -1 --format=%ct)"
export SOURCE_DATE_EPOCH
echo "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"

# 3. The bundle.
mkdir -p "$out"
step "ivpack build --spec ivpack.yaml --output $bundle"
(cd "$release" && "$ivpack" build --spec ivpack.yaml --output "$bundle")

# Signing by the release manager and by quality comes here, once `ivpack sign` exists:
#   ivpack sign "$bundle" --role release-manager --key ... --cert ...
#   ivpack sign "$bundle" --role quality --key ... --cert ...

# The release gate comes here, once `ivpack check` exists (version policy, release notes):
#   ivpack check "$bundle" --policy nmpa

# 4. What the bundle holds.
step "ivpack inspect $bundle"
"$ivpack" inspect "$bundle"

step "tar -tf $bundle"
tar -tf "$bundle"

# On-site verification comes here, once `ivpack verify` and the licence server exist:
#   ivpack license serve ... &   (development licence server, mutual TLS)
#   ivpack verify "$bundle" --policy ... --report "$out/IQ-$version"

step "Done"
echo "Bundle: $bundle ($(wc -c <"$bundle") bytes, sha256 $(sha256sum "$bundle" | cut -d' ' -f1))"
