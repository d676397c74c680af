/// The release gate's report in the forms CI servers read: a GitLab Code Quality report
/// (`artifacts:reports:codequality`) and a JUnit XML report (GitLab `artifacts:reports:junit`,
/// Jenkins `junit`), and the error forms of every machine format for a check that could not run.
extension GateReport {
    /// The `format` member of the JSON error object (`ivpack check --format json`, exit 2 or 3).
    public static let jsonErrorFormat = "ivpack-check-error/1"

    /// The Code Quality `severity` of a finding: `blocker` for block, `minor` for warn.
    public static func codeQualitySeverity(_ severity: FindingSeverity) -> String {
        severity == .block ? "blocker" : "minor"
    }

    /// The report as a GitLab Code Quality report: a JSON array with one issue per finding
    /// (`description`, `check_name` the rule ID, a `fingerprint` that stays the same while rule,
    /// file, line and message do, `severity`, and `location.path` relative to the repository with
    /// `lines.begin`, 1 when the finding has no line).
    public func codeQuality(roots: GateArtifactRoots) -> JSONValue {
        .array(
            sortedFindings.map { f in
                let path = roots.locate(f.file, in: self).path
                let line = max(f.line ?? 1, 1)
                return Self.codeQualityIssue(
                    checkName: f.ruleID, description: f.hint.isEmpty ? f.message : "\(f.message). Fix: \(f.hint)",
                    severity: Self.codeQualitySeverity(f.severity), path: path, line: line,
                    fingerprintOf: [f.ruleID, path, String(line), f.message])
            })
    }

    /// A Code Quality report for a check that could not run: one `blocker` issue, `ivpack-check`,
    /// on the target, carrying the error, so the merge request shows why.
    public static func codeQualityError(message: String, target: String, roots: GateArtifactRoots) -> JSONValue {
        let path = roots.locate(target, in: errorReport(target: target)).path
        return .array([
            codeQualityIssue(
                checkName: "ivpack-check", description: "ivpack check could not run: \(message)", severity: "blocker",
                path: path, line: 1, fingerprintOf: ["ivpack-check", path, message])
        ])
    }

    static func codeQualityIssue(
        checkName: String, description: String, severity: String, path: String, line: Int, fingerprintOf: [String]
    ) -> JSONValue {
        // Fields joined with NUL: no field can contain it, so two different findings never collide.
        let fingerprint = SHA256Digest.of(Array(fingerprintOf.joined(separator: "\u{0}").utf8)).hex
        return .object([
            ("description", .string(description)), ("check_name", .string(checkName)),
            ("fingerprint", .string(fingerprint)), ("severity", .string(severity)),
            ("location", .object([("path", .string(path)), ("lines", .object([("begin", .integer(line))]))])),
        ])
    }

    /// The JSON error object of a check that could not run: `format` `ivpack-check-error/1`, the
    /// `target`, `result` `error`, the `exitCode` (2 bad input, 3 I/O) and the `error` message
    /// (Schemas/check-report.schema.json, `$defs/error`).
    public static func jsonError(message: String, target: String, exitCode: Int32) -> JSONValue {
        .object([
            ("format", .string(jsonErrorFormat)), ("target", .string(target)), ("result", .string("error")),
            ("exitCode", .integer(Int(exitCode))), ("error", .string(message)),
        ])
    }

    /// The JUnit name of the one test suite.
    public static let junitSuiteName = "ivpack check"

    /// The report as JUnit XML: one `testsuite` named `ivpack check` inside `testsuites`, one
    /// `testcase` per rule evaluated (classname `ivpack.check`, name the rule ID and title), a
    /// `failure` for a rule with a blocking finding (every blocking finding in its text, with its
    /// file relative to the repository and line), warnings in `system-out`. Only the elements and
    /// attributes of Jenkins' junit-10.xsd are used, so strict readers accept it.
    public func junit(roots: GateArtifactRoots) -> String {
        let ids = rulesChecked + findings.map(\.ruleID).filter { !rulesChecked.contains($0) }
        var unique: [String] = []
        for id in ids where !unique.contains(id) { unique.append(id) }
        var cases = ""
        var failures = 0
        for id in unique {
            let own = sortedFindings.filter { $0.ruleID == id }
            let title = GateRuleCatalog.rule(id)?.title
            let attributes = "classname=\"ivpack.check\" name=\"\(Self.xml(title.map { "\(id) \($0)" } ?? id))\""
            let lines = own.map { f -> String in
                let location = roots.locate(f.file, in: self).path + (f.line.map { ":\($0)" } ?? "")
                return "\(f.severity == .block ? "BLOCK" : "WARN") \(f.ruleID) \(location): \(f.message)"
                    + (f.clause.isEmpty ? "" : "\n  clause: \(f.clause)") + (f.hint.isEmpty ? "" : "\n  fix: \(f.hint)")
            }
            let blocking = own.filter { $0.severity == .block }
            let warnings = own.filter { $0.severity == .warn }
            if blocking.isEmpty && warnings.isEmpty {
                cases += "    <testcase \(attributes)/>\n"
                continue
            }
            cases += "    <testcase \(attributes)>\n"
            if let first = blocking.first {
                failures += 1
                let text = zip(own, lines).filter { $0.0.severity == .block }.map { $0.1 }.joined(separator: "\n")
                cases +=
                    "      <failure type=\"block\" message=\"\(Self.xml(first.message))\">\(Self.xml(text))</failure>\n"
            }
            if !warnings.isEmpty {
                let text = zip(own, lines).filter { $0.0.severity == .warn }.map { $0.1 }.joined(separator: "\n")
                cases += "      <system-out>\(Self.xml(text))</system-out>\n"
            }
            cases += "    </testcase>\n"
        }
        return Self.junitDocument(
            tests: unique.count, failures: failures, errors: 0,
            properties: [
                ("target", target), ("product", product), ("version", version), ("policy", policy),
                ("channel", channel), ("result", passed ? "pass" : "fail"),
            ], cases: cases)
    }

    /// JUnit XML for a check that could not run: one test case `check could run` with an `error`
    /// carrying the message and the exit code.
    public static func junitError(message: String, target: String, exitCode: Int32) -> String {
        let cases =
            "    <testcase classname=\"ivpack.check\" name=\"ivpack check could run\">\n"
            + "      <error type=\"exit \(exitCode)\" message=\"\(xml(message))\">\(xml(message))</error>\n"
            + "    </testcase>\n"
        return junitDocument(
            tests: 1, failures: 0, errors: 1, properties: [("target", target), ("result", "error")], cases: cases)
    }

    static func junitDocument(tests: Int, failures: Int, errors: Int, properties: [(String, String)], cases: String)
        -> String
    {
        let counts = "tests=\"\(tests)\" failures=\"\(failures)\" errors=\"\(errors)\""
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"\(junitSuiteName)\" \(counts)>\n"
        out += "  <testsuite name=\"\(junitSuiteName)\" \(counts) skipped=\"0\">\n"
        out += "    <properties>\n"
        for (name, value) in properties {
            out += "      <property name=\"\(xml(name))\" value=\"\(xml(value))\"/>\n"
        }
        out += "    </properties>\n"
        out += cases
        out += "  </testsuite>\n</testsuites>"
        return out
    }

    /// `text` escaped for XML 1.0 text and attribute values: the five markup characters as
    /// entities, line breaks and tabs as character references (kept in attributes), and the
    /// characters XML 1.0 cannot carry at all (other C0 controls, U+FFFE, U+FFFF) as U+FFFD.
    static func xml(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            case "\t": out += "&#9;"
            case "\u{0}"..."\u{1F}", "\u{FFFE}", "\u{FFFF}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// An empty report on `target`, to locate the target of a check that could not run.
    static func errorReport(target: String) -> GateReport {
        GateReport(
            target: target, kind: .bundle, product: "", version: "", policy: "", channel: "", previous: nil,
            requiredLevel: nil, actualLevel: nil, rulesChecked: [], findings: [])
    }
}
