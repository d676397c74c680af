/// The release gate's report in the three forms `ivpack check --format` writes: text for people,
/// JSON (Schemas/check-report.schema.json) and SARIF 2.1.0 for code-scanning tools.
extension GateReport {
    /// The `format` member of the JSON report.
    public static let jsonFormat = "ivpack-check-report/1"

    /// Findings sorted for output: blocking first, then by file and line.
    public var sortedFindings: [Finding] {
        findings.enumerated().sorted { a, b in
            if a.element.severity != b.element.severity { return a.element.severity < b.element.severity }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// The report as text: a header, one block per finding, and the result line.
    public var text: String {
        var out =
            "Release gate: \(product) \(version) (\(kind.rawValue) \(target)), policy \(policy), channel \(channel)\n"
        if let previous {
            out += "Previous:     \(previous.version) (\(previous.path))"
            if let actualLevel { out += ", step \(actualLevel.letter) (\(actualLevel.name))" }
            out += "\n"
        }
        if let requiredLevel { out += "Change items require: \(requiredLevel.letter) (\(requiredLevel.name))\n" }
        out += "\n"
        for f in sortedFindings {
            let location = f.file + (f.line.map { ":\($0)" } ?? "")
            out += "\(f.severity == .block ? "BLOCK" : "WARN ") \(f.ruleID) \(location): \(f.message)\n"
            if !f.clause.isEmpty { out += "      clause: \(f.clause)\n" }
            if !f.hint.isEmpty { out += "      fix: \(f.hint)\n" }
        }
        let blocking = findings.filter { $0.severity == .block }.count
        let warnings = findings.count - blocking
        if !findings.isEmpty { out += "\n" }
        out +=
            passed
            ? "Result: PASS (\(rulesChecked.count) rules, \(warnings) warning\(warnings == 1 ? "" : "s"))"
            : "Result: FAIL (\(blocking) blocking finding\(blocking == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s"))"
        return out
    }

    /// The report as JSON (see Schemas/check-report.schema.json).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string(Self.jsonFormat)), ("target", .string(target)), ("kind", .string(kind.rawValue)),
            ("product", .string(product)), ("version", .string(version)), ("policy", .string(policy)),
            ("channel", .string(channel)),
            ("result", .string(passed ? "pass" : "fail")),
            (
                "summary",
                .object([
                    ("block", .integer(findings.filter { $0.severity == .block }.count)),
                    ("warn", .integer(findings.filter { $0.severity == .warn }.count)),
                ])
            ),
            ("rulesChecked", .array(rulesChecked.map { .string($0) })),
            ("findings", .array(sortedFindings.map(\.json))),
        ]
        if let previous {
            members.append(
                ("previous", .object([("path", .string(previous.path)), ("version", .string(previous.version))])))
        }
        if let requiredLevel { members.append(("requiredLevel", .string(requiredLevel.name))) }
        if let actualLevel { members.append(("actualLevel", .string(actualLevel.name))) }
        return .object(members)
    }

    /// The report as a SARIF 2.1.0 log: one run, the rules that ran, one result per finding
    /// (`error` for block, `warning` for warn), and one successful invocation. With `roots`, every
    /// `artifactLocation` is relative to the repository (`uriBaseId` `%SRCROOT%`, declared with
    /// the release folder `RELEASEROOT` in `originalUriBaseIds`), so code scanning can attach it;
    /// without, files are named as the findings name them.
    public func sarif(toolVersion: String, roots: GateArtifactRoots? = nil) -> JSONValue {
        let ids = rulesChecked + findings.map(\.ruleID).filter { !rulesChecked.contains($0) }
        let rules = ids.map { id -> JSONValue in
            let d = GateRuleCatalog.rule(id)
            return .object([
                ("id", .string(id)), ("name", .string(id.replacingDashes)),
                ("shortDescription", .object([("text", .string(d?.title ?? id))])),
                ("helpUri", .string(d?.helpURI ?? GateRuleCatalog.helpBase)),
                ("defaultConfiguration", .object([("level", .string(d?.severity == .warn ? "warning" : "error"))])),
                ("properties", .object([("clause", .string(d?.clause ?? ""))])),
            ])
        }
        let results = sortedFindings.map { f -> JSONValue in
            var physical: [(key: String, value: JSONValue)] = [
                ("artifactLocation", Self.sarifArtifactLocation(f.file, roots: roots, report: self))
            ]
            if let line = f.line, line >= 1 { physical.append(("region", .object([("startLine", .integer(line))]))) }
            return .object([
                ("ruleId", .string(f.ruleID)), ("ruleIndex", .integer(ids.firstIndex(of: f.ruleID) ?? 0)),
                ("level", .string(f.severity == .block ? "error" : "warning")),
                ("message", .object([("text", .string(f.hint.isEmpty ? f.message : "\(f.message). Fix: \(f.hint)"))])),
                ("locations", .array([.object([("physicalLocation", .object(physical))])])),
                ("properties", .object([("clause", .string(f.clause)), ("hint", .string(f.hint))])),
            ])
        }
        return Self.sarifLog(
            toolVersion: toolVersion, rules: rules, results: results, roots: roots,
            invocation: [("executionSuccessful", .bool(true)), ("exitCode", .integer(passed ? 0 : 1))])
    }

    /// A SARIF 2.1.0 log for a check that could not run (bad input, exit 2; I/O, exit 3): no
    /// result, and one invocation with `executionSuccessful: false`, the exit code and the error
    /// as a tool execution notification, so a pipeline that uploads the log shows why.
    public static func sarifError(
        message: String, exitCode: Int32, toolVersion: String, roots: GateArtifactRoots? = nil
    ) -> JSONValue {
        sarifLog(
            toolVersion: toolVersion, rules: [], results: [], roots: roots,
            invocation: [
                ("executionSuccessful", .bool(false)), ("exitCode", .integer(Int(exitCode))),
                (
                    "toolExecutionNotifications",
                    .array([.object([("level", .string("error")), ("message", .object([("text", .string(message))]))])])
                ),
            ])
    }

    static func sarifLog(
        toolVersion: String, rules: [JSONValue], results: [JSONValue], roots: GateArtifactRoots?,
        invocation: [(key: String, value: JSONValue)]
    ) -> JSONValue {
        var run: [(key: String, value: JSONValue)] = [
            (
                "tool",
                .object([
                    (
                        "driver",
                        .object([
                            ("name", .string("ivpack")), ("version", .string(toolVersion)),
                            ("informationUri", .string("https://ivpack.dev/docs/release-gate.md")),
                            ("rules", .array(rules)),
                        ])
                    )
                ])
            ),
            ("invocations", .array([.object(invocation)])),
            ("results", .array(results)),
        ]
        if let roots {
            var bases: [(key: String, value: JSONValue)] = [
                (
                    GateArtifactRoots.sourceRootID,
                    .object([
                        ("uri", .string("file://" + (roots.sourceRoot == "/" ? "" : roots.sourceRoot).sarifPath + "/"))
                    ])
                )
            ]
            if let release = roots.releaseRootRelative {
                bases.append(
                    (
                        GateArtifactRoots.releaseRootID,
                        release.isEmpty
                            ? .object([("uri", .string("./")), ("uriBaseId", .string(GateArtifactRoots.sourceRootID))])
                            : .object([
                                ("uri", .string(release.sarifPath)),
                                ("uriBaseId", .string(GateArtifactRoots.sourceRootID)),
                            ])
                    ))
            }
            run.append(("originalUriBaseIds", .object(bases)))
        }
        return .object([
            ("$schema", .string("https://json.schemastore.org/sarif-2.1.0.json")),
            ("version", .string("2.1.0")),
            ("runs", .array([.object(run)])),
        ])
    }

    /// A finding's file as a SARIF artifact location: relative to `%SRCROOT%` when it lies under
    /// the repository, an absolute `file://` URI otherwise (or, without roots, as named).
    static func sarifArtifactLocation(_ file: String, roots: GateArtifactRoots?, report: GateReport) -> JSONValue {
        guard let roots else { return .object([("uri", .string(file.sarifURI))]) }
        let location = roots.locate(file, in: report)
        if let relative = location.relative, !relative.isEmpty {
            return .object([
                ("uri", .string(relative.sarifPath)), ("uriBaseId", .string(GateArtifactRoots.sourceRootID)),
            ])
        }
        return .object([("uri", .string(location.absolute.sarifURI))])
    }
}

extension Finding {
    /// The finding as a JSON object of the check report.
    public var json: JSONValue {
        var m: [(key: String, value: JSONValue)] = [
            ("ruleId", .string(ruleID)), ("severity", .string(severity.rawValue)), ("file", .string(file)),
            ("clause", .string(clause)), ("message", .string(message)), ("hint", .string(hint)),
        ]
        if let line { m.append(("line", .integer(line))) }
        return .object(m)
    }
}

extension String {
    /// `VER-001` → `VER001`: a SARIF rule name without punctuation.
    var replacingDashes: String { String(filter { $0 != "-" }) }

    /// A relative or absolute path as a SARIF URI: percent-encoded outside unreserved characters and `/`.
    var sarifURI: String { (hasPrefix("/") ? "file://" : "") + sarifPath }

    /// The path percent-encoded outside unreserved characters and `/`, with no scheme.
    var sarifPath: String {
        var out = ""
        for b in utf8 {
            switch b {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E, 0x2F:
                out.append(Character(Unicode.Scalar(b)))
            default:
                let hex = String(b, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }
}
