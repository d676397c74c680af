#!/usr/bin/env python3
"""The conformance matrix: docs/conformance.md, generated from the tests themselves.

Reads the clause register (Conformance/clauses.tsv: every requirement clause of the IQ draft
standard, every rule of the release policy, with the ivpack feature that serves it and any gap
the project declares), the `.clause("…")` traits of the Swift Testing tests (Tests/**/*.swift,
in `@Test(…)` and `@Suite(…)` attributes; a suite's trait covers each of its tests), and the
clauses the code itself cites (`clause: "…"` in the rule and check catalogues under Sources/,
and the gate's rule IDs), and writes the matrix.

    python3 scripts/conformance.py            write docs/conformance.md
    python3 scripts/conformance.py --check    exit 1 if it is stale, if a trait names an ID that
                                              is not in the register, or if a clause or rule the
                                              code cites has no test

Status is computed, never typed: `done` = at least one test traces to the entry and the register
declares no gap; `partial` = tests trace to it and the register names a gap; `not covered` = no
test traces to it. Python 3 standard library only.
"""

import argparse
import os
import re
import sys

REGISTER = "Conformance/clauses.tsv"
OUTPUT = "docs/conformance.md"
COLUMNS = ["id", "source", "title", "feature", "gap", "aliases"]
SOURCES = [
    ("IQ", "Draft standard: AI medical devices, installation qualification (IQ)"),
    ("REGULATORY", "Release rules (REGULATORY.md section 5.3)"),
    ("ivpack", "ivpack's own gate rules (beyond REGULATORY.md)"),
]
RULE_ID = re.compile(r"\b(?:VER|NOTES|REL|SPEC)-\d{3}\b")


class Problem(Exception):
    pass


# --- The register ------------------------------------------------------------------------------


def read_register(root):
    """The register's entries in file order, and a map from every ID and alias to its entry ID."""
    path = os.path.join(root, REGISTER)
    entries, names = [], {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    header = None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if header is None:
            if fields != COLUMNS:
                raise Problem(f"{REGISTER}:{number}: the header must be {'<TAB>'.join(COLUMNS)}")
            header = fields
            continue
        if len(fields) != len(COLUMNS):
            raise Problem(f"{REGISTER}:{number}: {len(fields)} fields, expected {len(COLUMNS)} (tab-separated)")
        e = dict(zip(COLUMNS, (x.strip() for x in fields)))
        e["line"] = number
        if e["source"] not in [s for s, _ in SOURCES]:
            raise Problem(f"{REGISTER}:{number}: source '{e['source']}' is not one of {[s for s, _ in SOURCES]}")
        if not e["id"] or not e["title"]:
            raise Problem(f"{REGISTER}:{number}: every entry needs an id and a title")
        if not e["feature"] and not e["gap"]:
            raise Problem(f"{REGISTER}:{number}: {e['id']}: no feature serves it, so the gap column must say why")
        for name in [e["id"]] + [a.strip() for a in e["aliases"].split(",") if a.strip()]:
            if name in names:
                raise Problem(f"{REGISTER}:{number}: '{name}' is already an ID or alias (line {names[name][1]})")
            names[name] = (e["id"], number)
        entries.append(e)
    if header is None:
        raise Problem(f"{REGISTER}: empty")
    return entries, {k: v[0] for k, v in names.items()}


# --- Swift sources -----------------------------------------------------------------------------


def strip_comments(text):
    """`text` with every comment blanked (newlines kept); string literals are kept as they are."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text[i] == '"' or (text[i] == "#" and re.match(r'#+"', text[i:])):
            j = string_end(text, i)
            out.append(text[i:j])
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def string_end(text, i):
    """The index just past the string literal starting at `i` (plain, multi-line or raw)."""
    hashes = len(re.match(r"#*", text[i:]).group(0))
    j = i + hashes
    quote = '"""' if text.startswith('"""', j) else '"'
    close = quote + "#" * hashes
    j += len(quote)
    while j < len(text):
        if text.startswith(close, j):
            return j + len(close)
        if text[j] == "\\" and not hashes:
            j += 2
            continue
        if text[j] == "\n" and quote == '"':
            return j
        j += 1
    return j


def mask_strings(text):
    """`text` with the contents of every string literal blanked (same length, newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text[i] == '"' or (text[i] == "#" and re.match(r'#+"', text[i:])):
            j = string_end(text, i)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def balanced(text, i):
    """The index just past the parenthesised group opening at `text[i] == '('`."""
    depth, j = 0, i
    while j < len(text):
        c = text[j]
        if c == '"' or (c == "#" and re.match(r'#+"', text[j:])):
            j = string_end(text, j)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise Problem("unbalanced parentheses")


def literal_values(args):
    """The values of a comma-separated list of plain string literals, or None if it is not one."""
    values, rest = [], args.strip()
    while rest:
        m = re.match(r'"((?:[^"\\]|\\.)*)"\s*(?:,\s*|$)', rest)
        if not m:
            return None
        values.append(m.group(1))
        rest = rest[m.end():]
    return values


def line_of(text, i):
    return text.count("\n", 0, i) + 1


def scan_tests(root):
    """Every `.clause(…)` of a `@Test` or `@Suite` attribute: [(file, line, ids, [Suite/test…])]."""
    found, problems = [], []
    base = os.path.join(root, "Tests")
    for folder, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".swift"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8") as f:
                    text = strip_comments(f.read())
                try:
                    found += scan_file(rel, text)
                except Problem as p:
                    problems.append(f"{rel}: {p}")
    return found, problems


DECL = re.compile(r"^(?:@\w+(?:\([^\n]*\))?\s+)*(?:(?:public|internal|private|fileprivate|final)\s+)*"
                  r"(?:struct|class|enum|actor|extension)\s+([A-Za-z_]\w*)", re.M)


def scan_file(rel, text):
    # Attributes and declarations are looked for outside string literals (a test may hold Swift
    # source in a string); the traits' arguments are read from the text itself.
    code = mask_strings(text)
    # Top-level types (declarations that start a line): the suite of each test is the last one.
    tops = [(m.start(), m.group(1)) for m in DECL.finditer(code)]

    def suite_at(i):
        name = None
        for start, n in tops:
            if start <= i:
                name = n
        return name

    attrs = []  # (position, kind, attribute text, declaration name)
    for m in re.finditer(r"@(Test|Suite)\b", code):
        i = m.end()
        body = ""
        if i < len(text) and text[i] == "(":
            j = balanced(text, i)
            body, i = text[i + 1:j - 1], j
        rest = code[i:]
        # The declaration the attribute belongs to (other attributes may come between).
        d = re.match(r"(?:\s|@\w+(?:\([^()]*\))?)*?(?:(?:public|internal|private|fileprivate|final|static|"
                     r"nonisolated|mutating)\s+)*(func|struct|class|enum|actor)\s+([A-Za-z_]\w*)", rest)
        if not d:
            raise Problem(f"line {line_of(text, m.start())}: cannot find the declaration of @{m.group(1)}")
        attrs.append((m.start(), m.group(1), body, d.group(2)))

    out = []
    for pos, kind, body, decl in attrs:
        for c in re.finditer(r"(?<![\w.])\.clause\s*\(", body):
            j = balanced(body, c.end() - 1)
            ids = literal_values(body[c.end():j - 1])
            line = line_of(text, pos)
            if not ids:
                raise Problem(f"line {line}: .clause(…) must name its IDs as plain string literals")
            if kind == "Test":
                suite = suite_at(pos)
                tests = [f"{suite}/{decl}" if suite else decl]
            else:
                # Written once for the suite, so that a new test in it does not make the page stale.
                has_tests = any(k == "Test" and suite_at(p) == decl for p, k, _, _ in attrs)
                tests = [f"{decl}/*"] if has_tests else []
            out.append((rel, line, ids, tests))
    return out


# --- What the code cites ----------------------------------------------------------------------

IQ_ITEM = re.compile(
    r"^(?:annex\s+)?(?P<num>[A-C]\.\d+(?:\.\d+)*|\d+(?:\.\d+)*)(?:\s+(?P<a>[a-z])(?:\s*[-–]\s*(?P<b>[a-z]))?)?\b")


def scan_citations(root):
    """Every citation in the code: [(file, line, citation text)] of `clause: "…"` and gate rule IDs."""
    cites = []
    base = os.path.join(root, "Sources")
    for folder, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".swift"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8") as f:
                text = strip_comments(f.read())
            for m in re.finditer(r'(?<![\w"])clause:\s*"((?:[^"\\]|\\.)*)"', text):
                cites.append((rel, line_of(text, m.start()), m.group(1)))
            if "/Gate/" in "/" + rel.replace(os.sep, "/"):
                for m in re.finditer(r'\bid:\s*"((?:VER|NOTES|REL|SPEC)-\d{3})"', text):
                    cites.append((rel, line_of(text, m.start()), m.group(1)))
    return cites


def normalise(citation, names):
    """The register IDs a citation names, and the parts that name no register entry."""
    ids, unknown = [], []
    for part in citation.split(";"):
        part = re.sub(r"\([^)]*\)", "", part).strip()
        if part.startswith("IQ "):
            for item in part[3:].split(","):
                item = item.strip()
                m = IQ_ITEM.match(item)
                if not m:
                    unknown.append("IQ " + item)
                    continue
                num = m.group("num")
                letters = [None]
                if m.group("a"):
                    a, b = m.group("a"), m.group("b") or m.group("a")
                    letters = [chr(c) for c in range(ord(a), ord(b) + 1)]
                for letter in letters:
                    lettered = f"IQ {num} {letter}" if letter else None
                    if lettered and lettered in names:
                        ids.append(names[lettered])
                    elif f"IQ {num}" in names:
                        ids.append(names[f"IQ {num}"])
                    else:
                        unknown.append(lettered or f"IQ {num}")
        for rule in RULE_ID.findall(part):
            if rule in names:
                ids.append(names[rule])
            else:
                unknown.append(rule)
    return ids, unknown


def area(rel):
    parts = rel.replace(os.sep, "/").split("/")
    if len(parts) >= 3 and parts[0] == "Sources" and parts[1] == "IVPack":
        return {"Gate": "gate", "Verify": "verify"}.get(parts[2], parts[2].lower())
    return os.path.splitext(parts[-1])[0]


# --- The matrix -------------------------------------------------------------------------------


RULE_ORDER = {"VER": "1", "NOTES": "2", "REL": "3", "SPEC": "4"}


def sort_key(entry_id):
    """Clause numbers in numeric order (4.1.2 before 4.1.10), letters after their clause; rules
    in the order of REGULATORY.md (VER, NOTES, REL), then by number."""
    parts = re.split(r"[.\s-]+", entry_id)
    return [(0, int(t), "") if t.isdigit() else (1, 0, RULE_ORDER.get(t, t)) for t in parts]


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def build(root):
    entries, names = read_register(root)
    traces, problems = scan_tests(root)
    tests = {e["id"]: set() for e in entries}
    for rel, line, ids, covered in traces:
        for i in ids:
            if i not in names:
                problems.append(f"{rel}:{line}: .clause(\"{i}\") names no entry of {REGISTER}")
            elif names[i] != i:
                problems.append(f"{rel}:{line}: .clause(\"{i}\") is an alias; name the entry {names[i]}")
            else:
                tests[i].update(covered)
    cited = {e["id"]: set() for e in entries}
    for rel, line, text in scan_citations(root):
        ids, unknown = normalise(text, names)
        for u in unknown:
            problems.append(f"{rel}:{line}: the code cites {u} (\"{text}\"), which is not in {REGISTER}")
        for i in ids:
            cited[i].add(area(rel))
    for e in entries:
        if cited[e["id"]] and not tests[e["id"]]:
            problems.append(
                f"{e['id']} ({e['title']}) is cited by the code ({', '.join(sorted(cited[e['id']]))}) "
                f"but no test traces to it: add .clause(\"{e['id']}\") to a test that proves it")

    def status(e):
        if not tests[e["id"]]:
            return "not covered"
        return "partial" if e["gap"] else "done"

    out = [
        "# Conformance matrix",
        "",
        "<!-- Generated by `make conformance` (scripts/conformance.py); do not edit by hand. -->",
        "",
        "For the auditor: each requirement clause of the draft standard *AI medical devices, quality",
        "requirements and evaluation, part X: installation qualification* (`IQ x.y.z`), each rule of the",
        "release policy (REGULATORY.md section 5.3: `VER-`, `NOTES-`, `REL-`) and ivpack's own gate rules,",
        "with the ivpack feature that serves it and the tests that prove it.",
        "",
        "How it is made: the tests name what they prove with a Swift Testing trait,",
        "`@Test(\"…\", .clause(\"IQ 5.2.2\", \"REL-015\"))`; on a `@Suite` it covers each of its tests (`Suite/*`);",
        f"`make conformance` reads those traits and the clause register `{REGISTER}` (title, feature,",
        "declared gap) and writes this page. `make test` (and so CI) runs `scripts/conformance.py --check`",
        "(ConformanceTests), which fails when this page is stale, when a trait names an ID that is not in the register, or when a",
        "clause or rule the code cites (the gate's rule catalogue and verify's check catalogue, column",
        "*cited*) has no test.",
        "",
        "Status is computed, not typed:",
        "",
        "- **done**: at least one test traces to it and the register declares no gap;",
        "- **partial**: tests trace to it, and the register names what they do not prove or ivpack does",
        "  not do (the gap column);",
        "- **not covered**: no test traces to it; where ivpack does not serve it, the gap column says why.",
        "",
        "*Also cited as*: other numbers the code or the draft uses for the clause (the register's aliases).",
        "",
        "Clauses that state no requirement (scope, normative references, definitions 3.1, 3.3 and 3.4,",
        "the example documents of annex B, the empty report sections C.2 to C.7) are not listed.",
        "",
        "## Summary",
        "",
        "| source | done | partial | not covered | total |",
        "|---|---:|---:|---:|---:|",
    ]
    sections = []
    for source, heading in SOURCES:
        rows = sorted((e for e in entries if e["source"] == source), key=lambda e: sort_key(e["id"]))
        if not rows:
            continue
        counts = {s: sum(1 for e in rows if status(e) == s) for s in ("done", "partial", "not covered")}
        out.append(f"| {heading} | {counts['done']} | {counts['partial']} | {counts['not covered']} | {len(rows)} |")
        sec = [
            "",
            f"## {heading}",
            "",
            "| clause | title | feature | cited | status | gap | tests |",
            "|---|---|---|---|---|---|---|",
        ]
        for e in rows:
            t = "<br>".join(f"`{x}`" for x in sorted(tests[e["id"]])) or "—"
            clause = cell(e["id"]) + (f" (also cited as {cell(e['aliases'])})" if e["aliases"] else "")
            sec.append(
                f"| {clause} | {cell(e['title'])} | {cell(e['feature']) or '—'} | "
                f"{', '.join(sorted(cited[e['id']])) or '—'} | **{status(e)}** | {cell(e['gap']) or '—'} | {t} |")
        sections += sec
    return "\n".join(out + sections) + "\n", problems


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help=f"fail if {OUTPUT} is stale or a cited clause has no test")
    parser.add_argument("--root", default=os.path.dirname(here), help="the repository (default: this script's)")
    args = parser.parse_args()
    root = args.root
    try:
        text, problems = build(root)
    except (Problem, OSError) as p:
        print(f"conformance: {p}", file=sys.stderr)
        return 2
    path = os.path.join(root, OUTPUT)
    if args.check:
        try:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            problems.append(f"{OUTPUT} is stale: run `make conformance` and commit it")
        for p in problems:
            print(f"conformance: {p}", file=sys.stderr)
        if problems:
            return 1
        print(f"conformance: {OUTPUT} is current; every clause the code cites has a test")
        return 0
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    for p in problems:
        print(f"conformance: {p}", file=sys.stderr)
    print(f"conformance: wrote {OUTPUT}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
