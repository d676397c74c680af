#!/usr/bin/env bash
# Remakes the committed seed corpus (Fuzz/corpus/*) and the public fuzzing PKI (Fuzz/pki) from
# real ivpack output. Run it only to refresh the seeds; the fuzz targets and the regression test
# read what it wrote (docs/fuzzing.md). Needs an ivpack binary: IVPACK=path, else `swift build`.
#
#   1. a development PKI (ivpack keys init-dev); its certificates, CRLs and trust policy, and
#      no private key, go to Fuzz/pki;
#   2. a minimal release (one `file` component and short release notes) and a release with the
#      example's release notes, SBOM and requirements, built and signed by release-manager and
#      quality: the bundle seeds (under 64 KiB each), unsigned, half-signed and signed; and a
#      release with an install section (executables, state, every hook), for its manifest;
#   3. the example release Examples/pulmoscan, built from a tagged temporary git repository as
#      scripts/demo.sh does, for its manifest;
#   4. an offline licence file for the minimal bundle (ivpack license export --offline), the
#      grant it carries and an activation request;
#   5. the specs, release notes and trust policies, and broken variants of each;
#   6. Fuzz/pki/now: the time the targets verify at (a minute after the licence was issued);
#   7. the version readers' seeds (PDF, GGUF, safetensors, pip requirements), written by
#      Fuzz/make-version-seeds.py, which needs no ivpack and can be run alone.
set -euo pipefail

fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$fuzz/.." && pwd)"
if [ -n "${IVPACK:-}" ]; then
    ivpack="$(cd "$(dirname "$IVPACK")" && pwd)/$(basename "$IVPACK")"
else
    (cd "$repo" && swift build --product ivpack)
    ivpack="$(cd "$repo" && swift build --show-bin-path)/ivpack"
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/ivpack-seeds.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
corpus="$fuzz/corpus"
rm -rf -- "$corpus" "$fuzz/pki"
mkdir -p "$corpus"/{FuzzManifest,FuzzSpec,FuzzReleaseNotes,FuzzBundleReader,FuzzTrustPolicy,FuzzLicenseGrant} "$fuzz/pki"

# 1. PKI.
pki="$work/pki"
"$ivpack" keys init-dev "$pki" --validity-days 3650 >/dev/null
(cd "$pki" && find . -type f ! -name '*.key' ! -name README.txt | while read -r f; do
    mkdir -p "$fuzz/pki/$(dirname "$f")"
    cp "$f" "$fuzz/pki/$f"
done)

sign_both() {
    "$ivpack" sign "$1" --role release-manager --key "$pki/signers/release-manager.key" \
        --cert "$pki/signers/release-manager.pem" --chain "$pki/intermediate-ca.pem" >/dev/null
    "$ivpack" sign "$1" --role quality --key "$pki/signers/quality.key" \
        --cert "$pki/signers/quality.pem" --chain "$pki/intermediate-ca.pem" >/dev/null
}

# 2. Minimal release.
min="$work/minimal"
mkdir -p "$min/release-notes"
printf 'Example licences: none. Fuzzing seed.\n' >"$min/LICENSES.txt"
cat >"$min/release-notes/V2.3.1.1024.md" <<'EOF'
---
version: V2.3.1.1024
release_date: "2026-11-20"
update_level: Z
---

# PulmoScan AI V2.3.1.1024 Release Notes

## Changes

| ID | change_type | Description |
|---|---|---|
| CR-1 | corrective | A fix. |
EOF
cat >"$min/ivpack.yaml" <<'EOF'
apiVersion: ivpack.dev/v1
product:
  name: PulmoScan AI
  vendor: Example Medical AI Co.
  model: PS-AI
version: V2.3.1.1024
releaseNotes: release-notes/V2.3.1.1024.md
chunkSize: 64KiB
components:
  - name: licences
    kind: file
    paths: [LICENSES.txt]
requirements:
  cpu:
    minCores: 2
    flags: [sse4_2]
  memory:
    minimum: 4GiB
  os:
    id: ubuntu
    versions: ["22.04"]
  tools:
    - name: python3
      minimum: "3.10"
EOF
cp "$min/ivpack.yaml" "$corpus/FuzzSpec/minimal.yaml"
cp "$min/release-notes/V2.3.1.1024.md" "$corpus/FuzzReleaseNotes/minimal.md"
export SOURCE_DATE_EPOCH=1795651200
"$ivpack" build --spec "$min/ivpack.yaml" --output "$work/minimal.ivp" --quiet >/dev/null
cp "$work/minimal.ivp" "$corpus/FuzzBundleReader/minimal-unsigned"
"$ivpack" sign "$work/minimal.ivp" --role release-manager --key "$pki/signers/release-manager.key" \
    --cert "$pki/signers/release-manager.pem" --chain "$pki/intermediate-ca.pem" >/dev/null
cp "$work/minimal.ivp" "$corpus/FuzzBundleReader/minimal-signed-release-manager"
"$ivpack" sign "$work/minimal.ivp" --role quality --key "$pki/signers/quality.key" \
    --cert "$pki/signers/quality.pem" --chain "$pki/intermediate-ca.pem" >/dev/null
cp "$work/minimal.ivp" "$corpus/FuzzBundleReader/minimal-signed"
tar -xOf "$work/minimal.ivp" ivpack/manifest.json >"$corpus/FuzzManifest/minimal.json"
# The minimal release with its one component encrypted, the key wrapped for a throwaway RSA and
# EC certificate (their keys are discarded): ciphertext entries, recipient entries, the
# encryption members of the manifest.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/r1.key" -out "$work/r1.pem" -subj "/CN=fuzz recipient rsa" \
    -days 3650 -addext keyUsage=critical,keyEncipherment >/dev/null 2>&1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/r2.key" -out "$work/r2.pem" \
    -subj "/CN=fuzz recipient ec" -days 3650 -addext keyUsage=critical,keyAgreement >/dev/null 2>&1
"$ivpack" build --spec "$min/ivpack.yaml" --output "$work/encrypted.ivp" --encrypt licences \
    --recipient rsa="$work/r1.pem" --recipient ec="$work/r2.pem" >/dev/null
cp "$work/encrypted.ivp" "$corpus/FuzzBundleReader/minimal-encrypted-unsigned"
sign_both "$work/encrypted.ivp"
cp "$work/encrypted.ivp" "$corpus/FuzzBundleReader/minimal-encrypted-signed"
tar -xOf "$work/encrypted.ivp" ivpack/manifest.json >"$corpus/FuzzManifest/minimal-encrypted.json"

# Release with the example's notes, SBOM and requirements file.
ex="$work/with-sbom"
mkdir -p "$ex/release-notes" "$ex/sbom" "$ex/deps"
cp "$repo/Examples/pulmoscan/LICENSES.txt" "$ex/"
cp "$repo/Examples/pulmoscan/release-notes/V2.3.1.1024.md" "$ex/release-notes/"
cp "$repo/Examples/pulmoscan/sbom/pulmoscan.cdx.json" "$ex/sbom/"
cp "$repo/Examples/pulmoscan/deps/requirements.txt" "$ex/deps/"
sed -e '/^components:/,$d' "$min/ivpack.yaml" >"$ex/ivpack.yaml"
cat >>"$ex/ivpack.yaml" <<'EOF'
components:
  - name: sbom
    kind: dependency-manifest
    paths: [sbom/pulmoscan.cdx.json, deps/requirements.txt]
  - name: licences
    kind: file
    paths: [LICENSES.txt]
requirements:
  kernel:
    minimum: "5.10"
  gpu:
    vendor: NVIDIA
    minCount: 1
    minMemory: 16GiB
  disk:
    path: /opt/pulmoscan
    minimumFree: 1GiB
EOF
cp "$ex/ivpack.yaml" "$corpus/FuzzSpec/with-sbom.yaml"
"$ivpack" build --spec "$ex/ivpack.yaml" --output "$work/with-sbom.ivp" --quiet >/dev/null
sign_both "$work/with-sbom.ivp"
cp "$work/with-sbom.ivp" "$corpus/FuzzBundleReader/with-sbom-signed"
tar -xOf "$work/with-sbom.ivp" ivpack/manifest.json >"$corpus/FuzzManifest/with-sbom.json"

# Release with an install section: an executable made so by the spec, state paths, every hook.
inst="$work/with-install"
mkdir -p "$inst/release-notes" "$inst/hooks"
cp "$min/LICENSES.txt" "$inst/"
cp "$min/release-notes/V2.3.1.1024.md" "$inst/release-notes/"
printf '#!/bin/sh\nexit 0\n' >"$inst/hooks/health-check"
printf '#!/bin/sh\nexit 0\n' >"$inst/hooks/migrate"
chmod 0755 "$inst/hooks/health-check"
chmod 0644 "$inst/hooks/migrate"
sed -e '/^components:/,$d' "$min/ivpack.yaml" >"$inst/ivpack.yaml"
cat >>"$inst/ivpack.yaml" <<'EOF'
components:
  - name: licences
    kind: file
    paths: [LICENSES.txt, hooks]
install:
  root: /opt/example-medical/pulmoscan
  executables: [hooks/migrate]
  state: [etc, var/lib/pulmoscan]
  hooks:
    preInstall: {run: [hooks/migrate, --check], timeout: 5m}
    postInstall: {run: [hooks/migrate]}
    healthCheck: {run: [hooks/health-check, --port, "8080"], timeout: 30s}
    preRollback: {run: [hooks/migrate, --down], timeout: 2m}
    postRollback: {run: [hooks/health-check]}
EOF
cp "$inst/ivpack.yaml" "$corpus/FuzzSpec/with-install.yaml"
"$ivpack" build --spec "$inst/ivpack.yaml" --output "$work/with-install.ivp" --quiet >/dev/null
tar -xOf "$work/with-install.ivp" ivpack/manifest.json >"$corpus/FuzzManifest/with-install.json"

# 3. The example release, as scripts/demo.sh builds it (a tagged git repository).
release="$work/pulmoscan"
cp -R "$repo/Examples/pulmoscan" "$release"
find "$release" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +
(
    cd "$release"
    export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    export GIT_AUTHOR_DATE="2026-11-20T08:00:00+08:00" GIT_COMMITTER_DATE="2026-11-20T08:00:00+08:00"
    git init -q -b main .
    git add -A
    git -c user.name=Seeds -c user.email=seeds@example.com -c commit.gpgsign=false commit -q -m "Release V2.3.1.1024"
    git -c user.name=Seeds -c user.email=seeds@example.com -c tag.gpgsign=false tag -a V2.3.1.1024 -m "PulmoScan AI V2.3.1.1024"
)
(cd "$release" && "$ivpack" build --spec ivpack.yaml --output "$work/pulmoscan.ivp" --quiet >/dev/null)
tar -xOf "$work/pulmoscan.ivp" ivpack/manifest.json >"$corpus/FuzzManifest/pulmoscan.json"
cp "$repo/Examples/pulmoscan/ivpack.yaml" "$corpus/FuzzSpec/pulmoscan.yaml"
cp "$repo/Examples/pulmoscan/release-notes/V2.3.1.1024.md" "$corpus/FuzzReleaseNotes/pulmoscan.md"

# 4. Licence: an offline licence file for the minimal bundle, its grant, an activation request.
"$ivpack" license dev-config "$pki" --port 0 --database "$work/licenses.sqlite" --output "$work/license-server.yaml" >/dev/null
"$ivpack" license issue --config "$work/license-server.yaml" --id LIC-FUZZ-0001 --site SITE-FUZZ --product "PulmoScan AI" \
    --min-version V2.0.0.1 --max-version V2.999.999.999999 --seats 3 --valid-days 3650 >/dev/null
"$ivpack" license register "$work/minimal.ivp" --config "$work/license-server.yaml" >/dev/null
"$ivpack" license export --offline --config "$work/license-server.yaml" --id LIC-FUZZ-0001 --bundle "$work/minimal.ivp" \
    --output "$corpus/FuzzLicenseGrant/licence-file.json" --valid-days 366 >/dev/null
issued="$(date +%s)"
tar -xOf "$work/minimal.ivp" ivpack/manifest.json | sha256sum | cut -d' ' -f1 >"$fuzz/pki/licence-manifest-sha256"
echo $((issued + 60)) >"$fuzz/pki/now"

# 5. Every other seed and broken variant, derived from the real files above.
python3 - "$fuzz" "$repo" <<'PY'
import base64, json, os, sys
fuzz, repo = sys.argv[1], sys.argv[2]
c = os.path.join(fuzz, "corpus")
def put(target, name, data):
    with open(os.path.join(c, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
def get(target, name):
    with open(os.path.join(c, target, name), "rb") as f:
        return f.read()

# Licence grant, request, broken licence files.
lic = json.loads(get("FuzzLicenseGrant", "licence-file.json"))
grant = base64.b64decode(lic["grant"])
put("FuzzLicenseGrant", "grant.json", grant)
g = json.loads(grant)
put("FuzzLicenseGrant", "grant-not-canonical.json", json.dumps(g, indent=1))
g2 = dict(g); g2["extra"] = 1
put("FuzzLicenseGrant", "grant-extra-member.json", json.dumps(g2, sort_keys=True, separators=(",", ":")))
put("FuzzLicenseGrant", "activation-request.json", json.dumps({
    "product": "PulmoScan AI", "version": "V2.3.1.1024", "manifestSHA256": g["manifestSHA256"],
    "siteID": "SITE-FUZZ", "nonce": "ab" * 32}, separators=(",", ":")))
bad = dict(lic); bad["signature"] = base64.b64encode(base64.b64decode(lic["signature"])[:200]).decode()
put("FuzzLicenseGrant", "licence-file-truncated-signature.json", json.dumps(bad, separators=(",", ":")))
bad = dict(lic); bad["grant"] = base64.b64encode(grant.replace(b"SITE-FUZZ", b"SITE-FUZY")).decode()
put("FuzzLicenseGrant", "licence-file-other-site.json", json.dumps(bad, separators=(",", ":")))

# Manifests: not canonical, a member missing, a duplicate key.
m = get("FuzzManifest", "minimal.json")
put("FuzzManifest", "minimal-pretty.json", json.dumps(json.loads(m), indent=2))
mv = json.loads(m); del mv["provenance"]
put("FuzzManifest", "minimal-no-provenance.json", json.dumps(mv, sort_keys=True, separators=(",", ":")))
put("FuzzManifest", "duplicate-key.json", b'{"format":"ivpack-manifest/1","format":"x"}')
put("FuzzManifest", "deep.json", b"[" * 70 + b"]" * 70)

# Manifests with a hostile install member: what a signed manifest must still not carry.
def canon(v):
    return json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
mi = json.loads(get("FuzzManifest", "with-install.json"))
for name, change in [
    ("install-state-parent.json", lambda i: i.update(state=["../etc"])),
    ("install-state-nested.json", lambda i: i.update(state=["etc", "etc/app"])),
    ("install-relative-root.json", lambda i: i.update(root="opt/pulmoscan")),
    ("install-program-not-executable.json", lambda i: i["hooks"]["healthCheck"].update(run=["LICENSES.txt"])),
    ("install-unknown-hook.json", lambda i: i["hooks"].update(deploy={"run": ["hooks/migrate"], "timeoutSeconds": 1})),
    # Destinations: a valid one (the hook programs move with their component), then what both
    # readers refuse: a '..', no such component, a file where another needs a folder.
    ("install-destinations.json", lambda i: i.update(destinations={"licences": "share/licences"})),
    ("install-destination-parent.json", lambda i: i.update(destinations={"licences": "../share"})),
    ("install-destination-unknown.json", lambda i: i.update(destinations={"manuals": "share/doc"})),
    ("install-destination-collision.json", lambda i: i.update(destinations={"release-notes": "LICENSES.txt"})),
]:
    v = json.loads(json.dumps(mi)); change(v["install"])
    put("FuzzManifest", name, canon(v))

# Specs: anchors, unknown key, unsafe path, bad chunk size, a code component.
s = get("FuzzSpec", "minimal.yaml").decode()
put("FuzzSpec", "anchor.yaml", s.replace("product:\n", "product: &p\n") + "x: *p\n")
put("FuzzSpec", "unknown-key.yaml", s + "colour: blue\n")
put("FuzzSpec", "unsafe-path.yaml", s.replace("[LICENSES.txt]", "[../etc/passwd]"))
put("FuzzSpec", "bad-chunk.yaml", s.replace("64KiB", "3MiB"))
si = get("FuzzSpec", "with-install.yaml").decode()
put("FuzzSpec", "install-bad-timeout.yaml", si.replace("timeout: 30s", "timeout: 0s"))
put("FuzzSpec", "install-unknown-hook.yaml", si.replace("postRollback:", "postrollback:"))
put("FuzzSpec", "install-state-parent.yaml", si.replace("state: [etc,", "state: [../etc,"))
put("FuzzSpec", "install-destinations.yaml", si.replace("  hooks:\n", "  destinations: {licences: share/licences}\n  hooks:\n"))
put("FuzzSpec", "install-destination-parent.yaml", si.replace("  hooks:\n", "  destinations: {licences: ../x}\n  hooks:\n"))
put("FuzzSpec", "code.yaml", s.replace("kind: file\n    paths: [LICENSES.txt]",
    'kind: code\n    paths: [service]\n    version:\n      tag: "service-{version}"\n      repository: .'))

# Release notes: unclosed front matter, front matter that is not YAML, code fence, CRLF, BOM.
n = get("FuzzReleaseNotes", "minimal.md").decode()
put("FuzzReleaseNotes", "unclosed-front-matter.md", n.replace("---\n\n#", "\n#", 1))
put("FuzzReleaseNotes", "bad-front-matter.md", n.replace("update_level: Z", "update_level: [Z"))
put("FuzzReleaseNotes", "fence.md", n + "\n```\n## Not a heading\n```\n## 已知剩余缺陷 / Known Residual Anomalies\n\n已知缺陷总数 known total: 2; 剩余缺陷数 remaining: 1\n")
put("FuzzReleaseNotes", "crlf-bom.md", b"\xef\xbb\xbf" + n.replace("\n", "\r\n").encode())

# Trust policies: the development one, the example (its files do not exist here), variants.
t = open(os.path.join(fuzz, "pki", "trust-policy.yaml")).read()
put("FuzzTrustPolicy", "development.yaml", t)
put("FuzzTrustPolicy", "example.yaml", open(os.path.join(repo, "Keys", "example-trust-policy.yaml")).read())
put("FuzzTrustPolicy", "full.yaml", """apiVersion: ivpack.dev/v1
kind: TrustPolicy
development: true
trustedRoots: [root-ca.pem]
intermediates: [intermediate-ca.pem]
timestampRoots: [root-ca.pem]
crls: [root-crl.pem, crl.pem]
revocation: if-available
roles:
  release-manager:
    subjectOU: Release Management
  quality:
    certificatePolicy: "2.25.261145825710450062598460754844276917613"
    subjectOU: Quality Assurance
requiredRoles: [release-manager, quality]
minimumVersions:
  "PulmoScan AI": V2.3.0.1013
""")
put("FuzzTrustPolicy", "undefined-role.yaml", t.replace("requiredRoles:", "requiredRoles:\n  - auditor", 1))
put("FuzzTrustPolicy", "missing-root.yaml", t.replace("root-ca.pem", "no-such-root.pem"))
PY

# Broken bundles: truncated, trailing bytes, wrong first entry, links and unsafe names, gzip.
b="$corpus/FuzzBundleReader"
head -c 3000 "$b/minimal-signed" >"$b/truncated"
{ cat "$b/minimal-unsigned"; head -c 2048 /dev/zero; printf 'trailing'; } >"$b/trailing-bytes"
gzip -9 -n -c "$b/minimal-unsigned" >"$b/gzip"
python3 - "$b" <<'PY'
import io, os, sys, tarfile
b = sys.argv[1]
def tar(name, members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in members:
            info.mtime = 1795651200
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    open(os.path.join(b, name), "wb").write(buf.getvalue())
def reg(path, data):
    i = tarfile.TarInfo(path); i.size = len(data); return i, data
with open(os.path.join(b, "minimal-unsigned"), "rb") as f:
    t = tarfile.open(fileobj=f)
    entries = [(m, t.extractfile(m).read()) for m in t.getmembers()]
manifest = entries[0][1]
tar("first-entry-not-manifest", [reg("payload/LICENSES.txt", b"x\n")] + [(m, d) for m, d in entries])
link = tarfile.TarInfo("payload/link"); link.type = tarfile.SYMTYPE; link.linkname = "/etc/passwd"
d = tarfile.TarInfo("payload/dir"); d.type = tarfile.DIRTYPE
tar("links-and-unsafe-names", [(entries[0][0], manifest), (link, None), (d, None), reg("payload/../escape", b"x"),
                              reg("/absolute", b"x"), reg("payload/a\\b", b"x")] + entries[1:])
tar("gnu-format", [(m, d) for m, d in entries], fmt=tarfile.GNU_FORMAT)
tar("ustar-format", [(m, d) for m, d in entries], fmt=tarfile.USTAR_FORMAT)
open(os.path.join(b, "empty"), "wb").close()
PY
# 7. The version readers' seeds.
python3 "$fuzz/make-version-seeds.py"

echo "seeds written to $corpus; PKI (public part) in $fuzz/pki; fixed time $(cat "$fuzz/pki/now")"
du -a "$corpus" | sort -n | tail -n 5
