#!/usr/bin/env python3
"""Checks ivpack's JSON Schemas and validates documents against them.

  scripts/check-schemas.py [--spec SPEC.yaml ...] [--policy POLICY.yaml ...]
                           [--verify-report REPORT.json ...] [BUNDLE.ivp ...]

1. Every Schemas/*.schema.json is itself a valid JSON Schema (draft 2020-12) with an $id.
2. Each release spec (default: Examples/pulmoscan/ivpack.yaml) validates against
   Schemas/release-spec.schema.json. YAML is loaded with PyYAML, refusing duplicate keys and
   aliases as ivpack does.
3. For each bundle given, the first entry must be ivpack/manifest.json; it validates against
   Schemas/manifest.schema.json and passes the rules a schema cannot express (canonical bytes,
   chunk counts, unique paths, release notes among the files, evidence equal to the version).
4. Each trust policy (default: Keys/example-trust-policy.yaml, when it exists) validates against
   Schemas/trust-policy.schema.json, loaded like a spec, and passes the rules a schema cannot
   express (every required role defined under roles; development written true or false). The
   certificate and CRL files it names are not opened.
5. Each verify report (the output of `ivpack verify --json`) validates against
   Schemas/verify-report.schema.json.

Needs python3 with the `jsonschema` and `PyYAML` packages. Exits 0 when everything passes,
1 when a schema or document fails or cannot be read, 2 on command-line usage errors.
"""
import argparse
import json
import sys
import tarfile
from pathlib import Path

try:
    import yaml
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
except ImportError as e:  # pragma: no cover - environment problem
    sys.exit(f"check-schemas: {e}. Install the Python packages: pip install jsonschema PyYAML")

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "Schemas"
SPEC_SCHEMA = SCHEMAS / "release-spec.schema.json"
MANIFEST_SCHEMA = SCHEMAS / "manifest.schema.json"
POLICY_SCHEMA = SCHEMAS / "trust-policy.schema.json"
REPORT_SCHEMA = SCHEMAS / "verify-report.schema.json"
DEFAULT_SPEC = REPO / "Examples" / "pulmoscan" / "ivpack.yaml"
DEFAULT_POLICY = REPO / "Keys" / "example-trust-policy.yaml"
MAX_YAML_BYTES = 4 << 20
MANIFEST_ENTRY = "ivpack/manifest.json"
MAX_MANIFEST_BYTES = 256 << 20


class Failure(Exception):
    """A document or schema that does not pass; the message says what and where."""


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing what ivpack refuses: duplicate keys and aliases (`*a`)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(None, None, "aliases are not allowed; write the value out in full", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, StrictLoader.construct_mapping)


def load_json(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Failure(f"{path}: cannot read as JSON: {e}")


def pointer(parts):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else "(document)"


def validation_errors(validator, instance):
    """Every schema violation as 'pointer: message', deepest cause first for anyOf/oneOf."""
    out = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        message = error.message
        if error.validator == "contains":  # jsonschema's message repeats the whole array
            message = f"no item matches {json.dumps(error.validator_value, sort_keys=True)}"
        if error.context:
            causes = sorted({f"{pointer(list(error.absolute_path) + list(c.relative_path))}: {c.message}" for c in error.context})
            message += " (" + "; ".join(causes[:4]) + (" ..." if len(causes) > 4 else "") + ")"
        out.append(f"{pointer(list(error.absolute_path))}: {message}")
    return out


def check_schemas():
    """Every schema file is a valid draft 2020-12 schema with an $id; returns {path: schema}."""
    schemas = {}
    files = sorted(SCHEMAS.glob("*.schema.json"))
    if not files:
        raise Failure(f"{SCHEMAS}: no *.schema.json files")
    problems = []
    for path in files:
        schema = load_json(path)
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as e:
            problems.append(f"{path.relative_to(REPO)}: not a valid draft 2020-12 schema at {pointer(list(e.absolute_path))}: {e.message}")
            continue
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problems.append(f"{path.relative_to(REPO)}: $schema must be https://json-schema.org/draft/2020-12/schema")
        expected_id = f"https://ivpack.dev/schemas/{path.name}"
        if schema.get("$id") != expected_id:
            problems.append(f"{path.relative_to(REPO)}: $id must be {expected_id}, found {schema.get('$id')!r}")
        schemas[path] = schema
        print(f"ok   schema {path.relative_to(REPO)}")
    if problems:
        raise Failure("\n".join(problems))
    return schemas


def load_yaml(path):
    """A YAML file (spec or policy) as ivpack reads it: UTF-8, at most 4 MiB, one document, no
    duplicate keys, no aliases. Returns the document and its composed node tree."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_YAML_BYTES + 1)
    except OSError as e:
        raise Failure(f"{path}: cannot read: {e}")
    if len(data) > MAX_YAML_BYTES:
        raise Failure(f"{path}: more than {MAX_YAML_BYTES} bytes; ivpack refuses larger YAML files")
    try:
        text = data.decode("utf-8")
        return yaml.load(text, Loader=StrictLoader), yaml.compose(text, Loader=StrictLoader)
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise Failure(f"{path}: not valid YAML for ivpack: {e}")


def check_spec(spec_path, schema):
    document, _ = load_yaml(spec_path)
    errors = validation_errors(Draft202012Validator(schema), document)
    if errors:
        raise Failure(f"{spec_path}: does not match {SPEC_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    names = [c["name"] for c in document["components"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise Failure(f"{spec_path}: component names used twice: {', '.join(duplicates)}")
    print(f"ok   spec {spec_path}")


def check_policy(policy_path, schema):
    document, node = load_yaml(policy_path)
    errors = validation_errors(Draft202012Validator(schema), document)
    if errors:
        raise Failure(f"{policy_path}: does not match {POLICY_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    # What the schema cannot say, as TrustPolicy.load enforces it.
    problems = []
    for i, role in enumerate(document["requiredRoles"]):
        if role not in document["roles"]:
            problems.append(f"/requiredRoles/{i}: role {role!r} is not defined under roles")
    for key_node, value_node in node.value:
        # PyYAML reads yes, on, True ... as booleans (YAML 1.1); ivpack accepts only true and false.
        if key_node.value == "development" and value_node.value not in ("true", "false"):
            line = value_node.start_mark.line + 1
            problems.append(f"/development (line {line}): {value_node.value!r}; ivpack accepts only true or false")
    if problems:
        raise Failure(f"{policy_path}:\n  " + "\n  ".join(problems))
    print(f"ok   policy {policy_path}: {len(document['trustedRoots'])} trusted root file(s), "
          f"required roles {', '.join(document['requiredRoles'])}"
          + (", DEVELOPMENT" if document.get("development") else ""))


def check_report(report_path, schema):
    report = load_json(report_path)
    errors = validation_errors(Draft202012Validator(schema), report)
    if errors:
        raise Failure(f"{report_path}: does not match {REPORT_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    statuses = [c["status"] for c in report["checks"]]
    n, warned = len(statuses), statuses.count("warn")
    print(f"ok   verify report {report_path}: result {report['result']}, {n} check{'s' if n != 1 else ''} "
          f"({statuses.count('fail')} failed, {warned} warning{'s' if warned != 1 else ''})")


def read_manifest(bundle):
    try:
        with tarfile.open(bundle, mode="r:") as tar:  # plain tar only, as ivpack: no compression
            first = tar.next()
            if first is None:
                raise Failure(f"{bundle}: the archive is empty; an ivpack bundle starts with {MANIFEST_ENTRY}")
            if first.name != MANIFEST_ENTRY or not first.isfile():
                raise Failure(f"{bundle}: the first entry is {first.name!r}, not {MANIFEST_ENTRY}; this is not an ivpack bundle")
            if first.size > MAX_MANIFEST_BYTES:
                raise Failure(f"{bundle}: {MANIFEST_ENTRY} is {first.size} bytes, more than {MAX_MANIFEST_BYTES}")
            data = tar.extractfile(first).read()
            names = [first.name] + [m.name for m in tar.getmembers()[1:]]
    except (OSError, tarfile.TarError) as e:
        raise Failure(f"{bundle}: cannot read as a tar archive: {e}")
    return data, names


def canonical(value):
    """ivpack's canonical JSON: sorted keys (UTF-8 byte order = code point order), no whitespace."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def check_bundle(bundle, schema):
    data, names = read_manifest(bundle)
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Failure(f"{bundle}: {MANIFEST_ENTRY} is not valid JSON: {e}")
    errors = validation_errors(Draft202012Validator(schema), manifest)
    if errors:
        raise Failure(f"{bundle}: {MANIFEST_ENTRY} does not match {MANIFEST_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    # What the schema cannot say, as Manifest.decode enforces it.
    problems = []
    if canonical(manifest) != data:
        problems.append("not in canonical form (keys sorted, no whitespace, integers only)")
    chunk_size = manifest["chunkSize"]
    seen = set()
    for ci, component in enumerate(manifest["components"]):
        for fi, f in enumerate(component["files"]):
            where = f"/components/{ci}/files/{fi}"
            if f["path"] in seen:
                problems.append(f"{where}/path: {f['path']!r} is listed twice")
            seen.add(f["path"])
            want = max(1, -(-f["size"] // chunk_size))
            if len(f["chunks"]) != want:
                problems.append(f"{where}/chunks: {len(f['chunks'])} digests; {f['size']} bytes in {chunk_size}-byte chunks need {want}")
            if f["path"] not in names:
                problems.append(f"{where}/path: {f['path']!r} is not an entry of the archive")
        for ei, e in enumerate(component["versionEvidence"]):
            if e["found"] != manifest["version"]:
                problems.append(f"/components/{ci}/versionEvidence/{ei}/found: {e['found']!r} is not the version {manifest['version']!r}")
    if manifest["releaseNotes"] not in seen:
        problems.append(f"/releaseNotes: {manifest['releaseNotes']!r} is not one of the bundle's files")
    if problems:
        raise Failure(f"{bundle}: {MANIFEST_ENTRY}:\n  " + "\n  ".join(problems))
    files = sum(len(c["files"]) for c in manifest["components"])
    print(f"ok   bundle {bundle}: manifest of {manifest['product']['name']} {manifest['version']}, "
          f"{len(manifest['components'])} components, {files} files")


def main():
    parser = argparse.ArgumentParser(description="Check ivpack's JSON Schemas and validate specs, trust policies, verify reports "
                                                 "and bundle manifests against them.")
    parser.add_argument("--spec", action="append", type=Path,
                        help=f"a release spec to validate (repeatable; default {DEFAULT_SPEC.relative_to(REPO)})")
    parser.add_argument("--policy", action="append", type=Path,
                        help=f"a trust policy to validate (repeatable; default {DEFAULT_POLICY.relative_to(REPO)} when it exists)")
    parser.add_argument("--verify-report", action="append", type=Path, default=[], metavar="FILE",
                        help="a report of `ivpack verify --json` to validate (repeatable)")
    parser.add_argument("bundles", nargs="*", type=Path, help="bundles whose manifest to validate")
    args = parser.parse_args()
    failures = 0
    try:
        schemas = check_schemas()
    except Failure as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1
    required = (SPEC_SCHEMA, MANIFEST_SCHEMA, POLICY_SCHEMA, REPORT_SCHEMA)
    missing = [p.name for p in required if p not in schemas]
    if missing:
        print(f"FAIL {', '.join(missing)} missing from {SCHEMAS}", file=sys.stderr)
        return 1
    policies = args.policy or ([DEFAULT_POLICY] if DEFAULT_POLICY.is_file() else [])
    jobs = [(check_spec, p, schemas[SPEC_SCHEMA]) for p in (args.spec or [DEFAULT_SPEC])]
    jobs += [(check_policy, p, schemas[POLICY_SCHEMA]) for p in policies]
    jobs += [(check_report, r, schemas[REPORT_SCHEMA]) for r in args.verify_report]
    jobs += [(check_bundle, b, schemas[MANIFEST_SCHEMA]) for b in args.bundles]
    for check, path, schema in jobs:
        if not path.is_file():
            print(f"FAIL {path}: no such file", file=sys.stderr)
            failures += 1
            continue
        try:
            check(path, schema)
        except Failure as e:
            print(f"FAIL {e}", file=sys.stderr)
            failures += 1
    if failures:
        print(f"check-schemas: {failures} failure{'s' if failures != 1 else ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
