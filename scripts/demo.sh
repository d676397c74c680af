#!/usr/bin/env bash
# End-to-end demo (`make demo`): builds the example release Examples/pulmoscan into a bundle.
#
#   1. builds ivpack (swift build -c release), unless IVPACK names an ivpack binary to use;
#   2. copies Examples/pulmoscan into a fresh temporary folder and makes it a git repository
#      with one commit and the annotated release tag V2.3.1.1024 (what a release pipeline has);
#   3. ivpack keys init-dev: a development PKI and trust policy in the temporary folder;
#   4. ivpack build, with SOURCE_DATE_EPOCH = the commit time, into out/ at the repository root,
#      the model component encrypted (its content key wrapped for the licence server's escrow
#      certificate: only a licensed install gets the key);
#   5. ivpack sign by the release manager and by quality;
#   6. ivpack check: the release gate (version naming, release notes, approvals);
#   7. ivpack inspect and tar -tf on the bundle;
#   8. ivpack license serve: a development licence server on 127.0.0.1, with a licence and the
#      bundle registered as released (ivpack license register: only registered bundles activate;
#      the escrowed content key is registered with it);
#   9. ivpack verify against the development trust policy, with the licence check over mutual TLS;
#  10. ivpack install into a temporary install root, licensed over mutual TLS (the server releases
#      the model's content key in its grant; install decrypts while extracting), with the release's
#      postInstall and healthCheck hooks and the IQ report of the installation; status --check;
#      ivpack qualify (the release's on-site qualification; one IQ report of the whole IQ);
#      ivpack sign-report by installer, hospital reviewer and vendor issuer; verify-report;
#  11. a second release V2.4.0.1101 built from the same example (the version replaced in place,
#      same length, so the model and PDF stay valid), signed, installed over the site's edited
#      configuration (kept); status; ivpack rollback to V2.3.1.1024 with a reason (the site's
#      state put back as V2.3.1.1024 left it); status again; ivpack prune.
#
# The commit and tag dates and identities are fixed, so every run gives the same bundle, except the
# encrypted model and what depends on its key (a new content key per build, by design); the second
# release, in the clear, is byte-identical from run to run.
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
echo "ivpack: $ivpack ($("$ivpack" --version | head -n 1))"

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

# 3. A development PKI (root, intermediate, signers per role, installer, licence server and its
#    escrow certificate, CRLs, trust policy). A real site gets its trust policy from the vendor's
#    installer kit instead.
pki="$work/dev-pki"
step "ivpack keys init-dev $pki"
"$ivpack" keys init-dev "$pki" 2>&1 | tail -n 3

# 4. The bundle, the model weights encrypted for the licence server's escrow certificate.
mkdir -p "$out"
step "ivpack build --spec ivpack.yaml --output $bundle --encrypt nodule-detector --escrow-cert ..."
(cd "$release" && "$ivpack" build --force --spec ivpack.yaml --output "$bundle" \
    --encrypt nodule-detector --escrow-cert "$pki/license-escrow/escrow.pem")
echo "the model as stored in the bundle (ciphertext; no safetensors header):"
tar -xOf "$bundle" payload/models/nodule-detector.safetensors | head -c 48 | od -An -tx1 | head -n 3

# 5. Two approvals: the release manager, then quality, each with their own certificate.
step "ivpack sign (release-manager, then quality)"
"$ivpack" sign "$bundle" --role release-manager \
    --key "$pki/signers/release-manager.key" --cert "$pki/signers/release-manager.pem" --chain "$pki/intermediate-ca.pem"
"$ivpack" sign "$bundle" --role quality \
    --key "$pki/signers/quality.key" --cert "$pki/signers/quality.pem" --chain "$pki/intermediate-ca.pem"

# 6. The release gate the pipeline runs: version naming, release notes, approvals (exit 1 blocks).
step "ivpack check $bundle --policy nmpa --trust $pki/trust-policy.yaml"
"$ivpack" check "$bundle" --policy nmpa --trust "$pki/trust-policy.yaml"

# 7. What the bundle holds.
step "ivpack inspect $bundle"
"$ivpack" inspect "$bundle"

step "tar -tf $bundle"
tar -tf "$bundle"

# 8. The vendor's licence server (development configuration, mutual TLS, SQLite) on a free
#    port of 127.0.0.1, a licence for the demo site, and the released bundle registered.
step "ivpack license serve (development licence server on 127.0.0.1)"
"$ivpack" license dev-config "$pki" --port 0 --database "$work/licenses.sqlite" --output "$work/license-server.yaml"
"$ivpack" license issue --config "$work/license-server.yaml" --id LIC-DEMO-0001 --site SITE-DEMO \
    --product "PulmoScan AI" --min-version V2.0.0.1 --max-version V2.999.999.999999 --seats 3 --valid-days 365
# The vendor registers the bundle it released: the server activates registered bundles only.
"$ivpack" license register "$bundle" --config "$work/license-server.yaml"
"$ivpack" license serve --config "$work/license-server.yaml" >"$work/license-server.log" 2>&1 &
server_pid=$!
cleanup() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf -- "$work"; }
url=""
for _ in $(seq 1 100); do
    url="$(sed -n 's/^ivpack licence server listening on \(https:[^ ]*\).*/\1/p' "$work/license-server.log" | head -n 1)"
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/license-server.log" >&2; echo "demo: the licence server did not start" >&2; exit 3; }
    sleep 0.1
done
[ -n "$url" ] || { cat "$work/license-server.log" >&2; echo "demo: the licence server did not report its port" >&2; exit 3; }
echo "licence server: $url"

# 9. On site: verify against the site's trust policy (here the development one, which verify
#    flags with a warning), with the licence check over mutual TLS as the installer.
step "ivpack verify $bundle --trust $pki/trust-policy.yaml --license-server $url --site SITE-DEMO"
"$ivpack" verify "$bundle" --trust "$pki/trust-policy.yaml" \
    --license-server "$url" --site SITE-DEMO \
    --client-cert "$pki/installers/installer-1.pem" --client-key "$pki/installers/installer-1.key"

# 10. Install on site, licensed over mutual TLS as the installer: verify-while-extract into a
#     release folder of a fresh install root, the site's state snapshotted, the release's
#     postInstall hook (writes the site configuration from its template), the atomic switch of
#     ROOT/current, the health check (the service's self-check), the installed state and the IQ
#     report of the installation; then status with a drift check.
root="$work/install-root"
step "ivpack install $bundle --trust $pki/trust-policy.yaml --root $root --license-server $url ... --report"
"$ivpack" install "$bundle" --trust "$pki/trust-policy.yaml" --root "$root" \
    --license-server "$url" --site SITE-DEMO \
    --client-cert "$pki/installers/installer-1.pem" --client-key "$pki/installers/installer-1.key" \
    --report "$out/IQ-install-$version.json" --html "$out/IQ-install-$version.html"
echo "IQ conclusion: $(sed -n 's/.*"conclusion":{"result":"\([a-z]*\)","statement":"\([^"]*\)".*/\2/p' "$out/IQ-install-$version.json")"
echo "site configuration written by the postInstall hook: $root/state/etc/pulmoscan.conf"
sed -n '/^[a-z]/p' "$root/state/etc/pulmoscan.conf"
step "ivpack status --root $root --check"
"$ivpack" status --root "$root" --check
echo "current -> $(readlink "$root/current")"

# 10b. On-site qualification of the active release (the release's qualification: section): the
#      reference dataset checked against the manifest, the local endpoint started on a free
#      loopback port, the function cases, latency and accuracy over the 20 reference cases,
#      4 clients at once, the service's memory and CPU sampled. The IQ report now covers
#      verification, installation and qualification, from the install's start.
step "ivpack qualify --root $root --report $out/IQ-$version.json --html $out/IQ-$version.html"
"$ivpack" qualify --root "$root" --report "$out/IQ-$version.json" --html "$out/IQ-$version.html"

# 10c. Sign-off by every party (annex A): the installer performed it, the hospital's reviewer
#      reviewed it (with a note of what was found and done), the vendor's issuer approved and
#      issued it. Each sign-off is its own CMS signature beside the report (REPORT.NNN-ROLE.p7s),
#      never overwriting another; verify-report lists all three and renders the signed page.
rm -f -- "$out/IQ-$version.json".*.p7s
printf '%s\n' "No problem found. The site configuration was written by the postInstall hook and reviewed." \
    >"$work/iq-note.txt"
step "ivpack sign-report $out/IQ-$version.json --role installer | hospital-reviewer | vendor-issuer"
"$ivpack" sign-report "$out/IQ-$version.json" --role installer --name "Li Wei" --position "Field Service Engineer" \
    --key "$pki/installers/installer-1.key" --cert "$pki/installers/installer-1.pem" --chain "$pki/intermediate-ca.pem"
"$ivpack" sign-report "$out/IQ-$version.json" --role hospital-reviewer --name "Dr. Zhang Min" \
    --position "Head of Radiology IT" --note-file "$work/iq-note.txt" \
    --key "$pki/report-signers/hospital-reviewer.key" --cert "$pki/report-signers/hospital-reviewer.pem" \
    --chain "$pki/intermediate-ca.pem"
"$ivpack" sign-report "$out/IQ-$version.json" --role vendor-issuer --name "Wang Fang" --position "Quality Manager" \
    --key "$pki/report-signers/vendor-issuer.key" --cert "$pki/report-signers/vendor-issuer.pem" \
    --chain "$pki/intermediate-ca.pem"
step "ivpack verify-report $out/IQ-$version.json --trust $pki/trust-policy.yaml --html $out/IQ-$version-signed.html"
"$ivpack" verify-report "$out/IQ-$version.json" --trust "$pki/trust-policy.yaml" --html "$out/IQ-$version-signed.html"

# 11. A second release, V2.4.0.1101: the example with its version replaced everywhere (the new
#     version has the same length, so the safetensors header and the PDF's offsets stay valid),
#     committed and tagged, built, signed; installed, then rolled back to V2.3.1.1024.
version2="V2.4.0.1101"
bundle2="$out/pulmoscan-$version2.ivp"
release2="$work/pulmoscan-$version2"
step "Preparing $version2 in $release2"
cp -R "$example" "$release2"
find "$release2" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +
grep -rl --null "$version" "$release2" | LC_ALL=C xargs -0 sed -i "s/$version/$version2/g"
mv "$release2/release-notes/$version.md" "$release2/release-notes/$version2.md"
(
    cd "$release2"
    export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    export GIT_AUTHOR_DATE="$commit_date" GIT_COMMITTER_DATE="$commit_date"
    git init -q -b main .
    git config user.name "PulmoScan Release Pipeline"
    git config user.email "release@example.com"
    git config commit.gpgsign false
    git config tag.gpgsign false
    git add -A
    git commit -q -m "Release $version2"
    git tag -a "$version2" -m "PulmoScan AI $version2"
)
(cd "$release2" && "$ivpack" build --force --spec ivpack.yaml --output "$bundle2")
"$ivpack" sign "$bundle2" --role release-manager \
    --key "$pki/signers/release-manager.key" --cert "$pki/signers/release-manager.pem" --chain "$pki/intermediate-ca.pem"
"$ivpack" sign "$bundle2" --role quality \
    --key "$pki/signers/quality.key" --cert "$pki/signers/quality.pem" --chain "$pki/intermediate-ca.pem"
# The site tunes its configuration before the upgrade: the upgrade keeps it (a state path).
sed -i 's/^pacs_ae_title = .*/pacs_ae_title = RADIOLOGY-3/' "$root/state/etc/pulmoscan.conf"
step "ivpack install $bundle2 --trust $pki/trust-policy.yaml --root $root"
"$ivpack" install "$bundle2" --trust "$pki/trust-policy.yaml" --root "$root"
grep '^pacs_ae_title' "$root/state/etc/pulmoscan.conf"
step "ivpack status --root $root"
"$ivpack" status --root "$root"
step "ivpack rollback --root $root --reason ..."
"$ivpack" rollback --root "$root" --reason "demo: back to $version after the site acceptance test"
step "ivpack status --root $root --check"
"$ivpack" status --root "$root" --check
echo "current -> $(readlink "$root/current")"
cat "$root/state/var/install.log"
step "ivpack prune --root $root --keep 2"
"$ivpack" prune --root "$root" --keep 2

step "Done"
echo "IQ report of the installation: $out/IQ-install-$version.json (and .html)"
echo "IQ report of the installation and qualification: $out/IQ-$version.json (and .html)"
echo "Bundle: $bundle ($(wc -c <"$bundle") bytes, sha256 $(sha256sum "$bundle" | cut -d' ' -f1))"
echo "Bundle: $bundle2 ($(wc -c <"$bundle2") bytes, sha256 $(sha256sum "$bundle2" | cut -d' ' -f1))"
