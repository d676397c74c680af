import Foundation
import IVPackTestSupport
import Testing

@testable import IVPack

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The example release as a pipeline has it: a git repository with Examples/pulmoscan under
/// `release/`, committed and tagged with an annotated tag, and its bundle built into `out/`.
final class ExampleRepository: @unchecked Sendable {
    let folder = TemporaryFolder("ivpack-example-repo")
    var root: String { folder.path }
    static let version = "V2.3.1.1024"
    static let notes = "release/release-notes/V2.3.1.1024.md"
    /// A placeholder line whose text holds every XML markup character.
    static let placeholder = "TODO: regression figures <&\"'> to come"

    /// The 1-based line of the placeholder in the notes, when `placeholder` was given.
    private(set) var placeholderLine: Int?

    /// The repository; with `placeholder`, the notes end in `placeholder` (a NOTES-018 finding).
    init(placeholder: Bool) throws {
        let example = SchemaTests.repositoryRoot + "/Examples/pulmoscan"
        try FileManager.default.copyItem(atPath: example, toPath: folder.url("release"))
        for cache in ["tools/__pycache__", "service/__pycache__"] {
            try? FileManager.default.removeItem(atPath: folder.url("release/" + cache))
        }
        if placeholder {
            var notes = String(decoding: folder.read(Self.notes), as: UTF8.self)
            if !notes.hasSuffix("\n") { notes += "\n" }
            notes += "\n" + Self.placeholder + "\n"
            folder.write(Self.notes, notes)
            placeholderLine = notes.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        }
        git(["init", "-q", "-b", "main"], in: root)
        git(["add", "-A"], in: root)
        git(["commit", "-q", "-m", "Release \(Self.version)"], in: root)
        git(["tag", "-a", Self.version, "-m", "PulmoScan AI \(Self.version)"], in: root)
    }

    /// Builds the bundle to `out/pulmoscan-VERSION.ivp` (relative to the root) and returns that path.
    @discardableResult
    func build() throws -> String {
        let bundle = "out/pulmoscan-\(Self.version).ivp"
        try FileManager.default.createDirectory(atPath: folder.url("out"), withIntermediateDirectories: true)
        _ = try BundleBuilder.build(
            specPath: folder.url("release/ivpack.yaml"), outputPath: folder.url(bundle), sourceDateEpoch: 1_700_000_000)
        return bundle
    }

    /// The repository root as git reports it (symbolic links resolved).
    var realRoot: String { URL(fileURLWithPath: root).resolvingSymlinksInPath().path }
}

/// `ivpack check --format sarif|codequality|junit|json`: real checks of real release folders,
/// the output parsed as CI servers parse it (JSONSerialization, XMLParser), every file named
/// relative to the repository, and a valid document even when the check cannot run.
@Suite struct GateOutputFormatTests {
    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    static func validate(_ flag: String, _ text: String) -> ProcessResult {
        let out = TemporaryFolder()
        let file = out.write("document", text)
        return run(
            "/usr/bin/env", ["python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py", flag, file],
            in: SchemaTests.repositoryRoot)
    }

    @Test func sarifNamesEveryFileRelativeToTheRepository() throws {
        let repo = try ExampleRepository(placeholder: true)
        let bundle = try repo.build()
        let r = ivpack(["check", bundle, "--release-root", "release", "--format", "sarif"], in: repo.root)
        #expect(r.status == 1, "\(r.stderr)")
        let run = try #require((try Self.object(r.stdout)["runs"] as? [[String: Any]])?.first)
        let bases = try #require(run["originalUriBaseIds"] as? [String: [String: String]])
        #expect(bases["%SRCROOT%"]?["uri"] == "file://" + repo.realRoot + "/")
        #expect(bases["RELEASEROOT"] == ["uri": "release/", "uriBaseId": "%SRCROOT%"])
        let invocation = try #require((run["invocations"] as? [[String: Any]])?.first)
        #expect(invocation["executionSuccessful"] as? Bool == true)
        let results = try #require(run["results"] as? [[String: Any]])
        var located: [String: (uri: String, line: Int?)] = [:]
        for result in results {
            let physical = try #require(
                ((result["locations"] as? [[String: Any]])?.first?["physicalLocation"]) as? [String: Any])
            let artifact = try #require(physical["artifactLocation"] as? [String: String])
            #expect(artifact["uriBaseId"] == "%SRCROOT%", "\(artifact)")
            let uri = try #require(artifact["uri"])
            #expect(FileManager.default.fileExists(atPath: repo.folder.url(uri)), "\(uri) is not in the repository")
            located[result["ruleId"] as? String ?? ""] = (uri, (physical["region"] as? [String: Int])?["startLine"])
        }
        #expect(located["NOTES-018"]?.uri == ExampleRepository.notes)
        #expect(located["NOTES-018"]?.line == repo.placeholderLine)
        #expect(located["REL-006"]?.uri == bundle)
        let valid = Self.validate("--sarif", r.stdout)
        #expect(valid.status == 0, "\(valid.stdout)\(valid.stderr)")
        #expect(valid.stdout.contains("official OASIS SARIF 2.1.0 schema"))

        // Without --release-root, the release folder is the one whose spec the manifest names by digest.
        let found = ivpack(["check", bundle, "--format", "codequality"], in: repo.root)
        #expect(found.stdout.contains(ExampleRepository.notes), "\(found.stdout)")

        // From another folder, with absolute paths: the repository is found from the release folder.
        let elsewhere = TemporaryFolder()
        let spec = ivpack(["check", repo.folder.url("release/ivpack.yaml"), "--format", "sarif"], in: elsewhere.path)
        #expect(spec.status == 1, "\(spec.stderr)")
        let specRun = try #require((try Self.object(spec.stdout)["runs"] as? [[String: Any]])?.first)
        let uris = (specRun["results"] as? [[String: Any]] ?? []).compactMap {
            (($0["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])?["artifactLocation"]
                as? [String: String]
        }
        #expect(uris.contains(["uri": ExampleRepository.notes, "uriBaseId": "%SRCROOT%"]), "\(uris)")
    }

    @Test func sarifRootOptionOverridesTheRepository() throws {
        let repo = try ExampleRepository(placeholder: true)
        let r = ivpack(
            ["check", "release/ivpack.yaml", "--sarif-root", "release", "--format", "sarif"], in: repo.root)
        let run = try #require((try Self.object(r.stdout)["runs"] as? [[String: Any]])?.first)
        let bases = try #require(run["originalUriBaseIds"] as? [String: [String: String]])
        #expect(bases["%SRCROOT%"]?["uri"] == "file://" + repo.realRoot + "/release/")
        let uris = (run["results"] as? [[String: Any]] ?? []).compactMap {
            (($0["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])?["artifactLocation"]
                as? [String: String]
        }
        #expect(uris.contains(["uri": "release-notes/V2.3.1.1024.md", "uriBaseId": "%SRCROOT%"]), "\(uris)")
    }

    @Test func codeQualityReportHasStableFingerprintsAndRepositoryPaths() throws {
        let repo = try ExampleRepository(placeholder: true)
        let bundle = try repo.build()
        let arguments = ["check", bundle, "--release-root", "release", "--format", "codequality"]
        let r = ivpack(arguments, in: repo.root)
        #expect(r.status == 1, "\(r.stderr)")
        let issues = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        for issue in issues {
            for key in ["description", "check_name", "fingerprint", "severity", "location"] {
                #expect(issue[key] != nil, "\(key) missing in \(issue)")
            }
        }
        func issue(_ rule: String) -> [String: Any]? { issues.first { $0["check_name"] as? String == rule } }
        let placeholder = try #require(issue("NOTES-018"), "\(r.stdout)")
        #expect(placeholder["severity"] as? String == "blocker")
        let location = try #require(placeholder["location"] as? [String: Any])
        #expect(location["path"] as? String == ExampleRepository.notes)
        #expect((location["lines"] as? [String: Int])?["begin"] == repo.placeholderLine)
        #expect((placeholder["description"] as? String)?.contains("<&\"'>") == true)
        #expect(issue("REL-006")?["severity"] as? String == "minor")
        #expect((issue("REL-006")?["location"] as? [String: Any])?["path"] as? String == bundle)
        let fingerprints = issues.compactMap { $0["fingerprint"] as? String }
        #expect(Set(fingerprints).count == issues.count)
        // The same findings give the same fingerprints (GitLab compares them across pipelines).
        #expect(ivpack(arguments, in: repo.root).stdout == r.stdout)
    }

    @Test func junitReportHasOneTestCasePerRuleAndEscapesMessages() throws {
        let repo = try ExampleRepository(placeholder: true)
        let bundle = try repo.build()
        let r = ivpack(["check", bundle, "--release-root", "release", "--format", "junit"], in: repo.root)
        #expect(r.status == 1, "\(r.stderr)")
        let json = ivpack(["check", bundle, "--format", "json"], in: repo.root)
        let rules = try #require(try Self.object(json.stdout)["rulesChecked"] as? [String])

        let document = try JUnitDocument.parse(r.stdout)
        #expect(document.root == "testsuites")
        #expect(document.suites.map(\.name) == ["ivpack check"])
        let suite = try #require(document.suites.first)
        #expect(suite.cases.count == rules.count, "\(suite.cases.map(\.name))")
        #expect(suite.tests == suite.cases.count)
        #expect(suite.failures == suite.cases.filter { $0.failureMessage != nil }.count)
        let placeholder = try #require(suite.cases.first { $0.name.hasPrefix("NOTES-018") })
        #expect(
            placeholder.failureText.contains(
                "BLOCK NOTES-018 \(ExampleRepository.notes):\(repo.placeholderLine ?? 0): "), "\(placeholder)")
        #expect(placeholder.failureMessage?.contains(ExampleRepository.placeholder) == true, "\(placeholder)")
        #expect(placeholder.failureText.contains(ExampleRepository.placeholder))
        let approvals = try #require(suite.cases.first { $0.name.hasPrefix("REL-006") })
        #expect(approvals.failureMessage == nil && approvals.systemOut.contains("WARN REL-006"))
        #expect(suite.cases.filter { $0.failureMessage != nil }.map { String($0.name.prefix(9)) } == ["NOTES-018"])
    }

    /// Targets the check cannot run on: a spec that is not there, a spec that does not parse.
    static func unrunnable(_ folder: TemporaryFolder) -> [String] {
        folder.write("broken/ivpack.yaml", "apiVersion: ivpack.dev/v1\nproduct: [\n")
        return [folder.url("missing/ivpack.yaml"), folder.url("broken/ivpack.yaml")]
    }

    @Test(arguments: ["json", "sarif", "codequality", "junit"])
    func checkThatCannotRunStillPrintsAValidDocument(format: String) throws {
        let folder = TemporaryFolder()
        for target in Self.unrunnable(folder) {
            let text = ivpack(["check", target])
            #expect(text.status == 2 || text.status == 3, "\(text.stderr)")
            #expect(text.stdout.isEmpty)
            let errorLine = try #require(text.stderr.split(separator: "\n").first { $0.hasPrefix("error: ") })
            let message = String(errorLine.dropFirst("error: ".count))
            let r = ivpack(["check", target, "--format", format], in: folder.path)
            #expect(r.status == text.status, "the exit status is unchanged: \(r.stderr)")
            #expect(!r.stdout.isEmpty)
            switch format {
            case "json":
                let object = try Self.object(r.stdout)
                #expect(object["format"] as? String == "ivpack-check-error/1")
                #expect(object["result"] as? String == "error")
                #expect(object["exitCode"] as? Int == Int(text.status))
                #expect(object["error"] as? String == message)
                let valid = Self.validate("--check-report", r.stdout)
                #expect(valid.status == 0, "\(valid.stdout)\(valid.stderr)")
            case "sarif":
                let run = try #require((try Self.object(r.stdout)["runs"] as? [[String: Any]])?.first)
                let invocation = try #require((run["invocations"] as? [[String: Any]])?.first)
                #expect(invocation["executionSuccessful"] as? Bool == false)
                #expect(invocation["exitCode"] as? Int == Int(text.status))
                let notes = try #require(invocation["toolExecutionNotifications"] as? [[String: Any]])
                #expect((notes.first?["message"] as? [String: String])?["text"] == message)
                #expect((run["results"] as? [Any])?.isEmpty == true)
                let valid = Self.validate("--sarif", r.stdout)
                #expect(valid.status == 0, "\(valid.stdout)\(valid.stderr)")
            case "codequality":
                let issues = try #require(
                    try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
                #expect(issues.count == 1)
                #expect(issues.first?["severity"] as? String == "blocker")
                #expect((issues.first?["description"] as? String)?.hasSuffix(message) == true)
            default:
                let document = try JUnitDocument.parse(r.stdout)
                let suite = try #require(document.suites.first)
                #expect(suite.errors == 1 && suite.cases.count == 1)
                #expect(suite.cases.first?.errorMessage == message)
            }
        }
    }

    @Test func filesOutsideTheRepositoryKeepAbsolutePathsAndXMLStaysWellFormed() throws {
        let repo = TemporaryFolder()
        let elsewhere = TemporaryFolder()
        let previous = elsewhere.write("previous.ivp", "")
        let previousReal = URL(fileURLWithPath: previous).resolvingSymlinksInPath().path
        let roots = GateArtifactRoots(
            sourceRoot: repo.path, releaseRoot: repo.url("release"), workingDirectory: repo.path)
        let hostile = "bad \u{1}line <&\"'> \u{FFFE}end"
        let report = GateReport(
            target: "out/x.ivp", kind: .bundle, product: "P <&>", version: "V2.3.1.1024", policy: "nmpa",
            channel: "market", previous: (previous, "V2.3.0.1013"), requiredLevel: nil, actualLevel: nil,
            rulesChecked: ["VER-008", "NOTES-018", "REL-006"],
            findings: [
                Finding("VER-008", file: previous, "not greater", hint: "bump"),
                Finding("NOTES-018", file: "release-notes/V2.3.1.1024.md", line: 3, hostile, hint: "fix <it>"),
                Finding("REL-006", file: "out/x.ivp", "unsigned", hint: "", severity: .warn),
            ])
        let paths = report.codeQuality(roots: roots).arrayValue?.compactMap { $0["location"]?["path"]?.stringValue }
        #expect(paths == [previousReal, "release/release-notes/V2.3.1.1024.md", "out/x.ivp"])

        let sarif = report.sarif(toolVersion: "test", roots: roots)
        let locations = sarif["runs"]?.arrayValue?.first?["results"]?.arrayValue?.compactMap {
            $0["locations"]?.arrayValue?.first?["physicalLocation"]?["artifactLocation"]
        }
        #expect(locations?.first?["uri"]?.stringValue == "file://" + previousReal)
        #expect(locations?.first?["uriBaseId"] == nil)
        #expect(locations?.dropFirst().allSatisfy { $0["uriBaseId"]?.stringValue == "%SRCROOT%" } == true)

        let document = try JUnitDocument.parse(report.junit(roots: roots))
        let cases = try #require(document.suites.first?.cases)
        #expect(cases.map { String($0.name.prefix(9)) } == ["VER-008 T", "NOTES-018", "REL-006 E"])
        #expect(cases[0].failureText.hasPrefix("BLOCK VER-008 \(previousReal): not greater"))
        #expect(cases[1].failureMessage == "bad \u{FFFD}line <&\"'> \u{FFFD}end")
        #expect(cases[1].failureText.contains("fix: fix <it>"))
        #expect(document.suites.first?.failures == 2)
        // The schema check itself refuses what junit-10.xsd does not allow.
        #expect(throws: JUnitDocument.Malformed.self) {
            try JUnitDocument.parse(
                #"<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase name="x" file="y"/></testsuite></testsuites>"#
            )
        }
        #expect(throws: JUnitDocument.Malformed.self) {
            try JUnitDocument.parse(
                #"<testsuites><testsuite name="s" tests="1"><testcase name="x"/></testsuite></testsuites>"#)
        }
    }

    @Test func formatAndJSONFlagAgree() throws {
        let repo = try ExampleRepository(placeholder: false)
        let flag = ivpack(["check", "release/ivpack.yaml", "--json"], in: repo.root)
        let option = ivpack(["check", "release/ivpack.yaml", "--format", "json"], in: repo.root)
        #expect(flag.status == 0 && flag.stdout == option.stdout, "\(flag.stderr)")
        let both = ivpack(["check", "release/ivpack.yaml", "--json", "--format", "junit"], in: repo.root)
        #expect(both.status == 64 && both.stderr.contains("give one"), "\(both.stderr)")
    }
}

/// A JUnit XML document as Foundation's XMLParser reads it (what CI servers see), held to the
/// elements, nesting and attributes of Jenkins' junit-10.xsd (jenkinsci/xunit-plugin), the
/// strictest common JUnit schema: anything it does not allow is an error.
struct JUnitDocument {
    /// junit-10.xsd: the children each element may have, its attributes, and the required ones.
    static let schema: [String: (children: Set<String>, attributes: Set<String>, required: Set<String>)] = [
        "testsuites": (["testsuite"], ["name", "time", "tests", "failures", "errors"], []),
        "testsuite": (
            ["testsuite", "properties", "testcase", "system-out", "system-err"],
            [
                "name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname", "id",
                "package", "file", "log", "url",
            ], ["name", "tests", "failures", "errors"]
        ),
        "properties": (["property"], [], []),
        "property": ([], ["name", "value"], ["name", "value"]),
        "testcase": (
            ["skipped", "error", "failure", "system-out", "system-err"], ["name", "time", "classname", "group"],
            ["name"]
        ),
        "failure": ([], ["type", "message"], []), "error": ([], ["type", "message"], []),
        "skipped": ([], ["type", "message"], []), "system-out": ([], [], []), "system-err": ([], [], []),
    ]

    struct Case {
        var name = ""
        var failureMessage: String?
        var failureText = ""
        var errorMessage: String?
        var systemOut = ""
    }
    struct Suite {
        var name = ""
        var tests = 0
        var failures = 0
        var errors = 0
        var cases: [Case] = []
    }
    var root = ""
    var suites: [Suite] = []

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    static func parse(_ text: String) throws -> JUnitDocument {
        let delegate = Delegate()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = delegate
        guard parser.parse() else {
            throw Malformed(description: "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")\n\(text)")
        }
        if !delegate.problems.isEmpty {
            throw Malformed(description: "not junit-10.xsd: \(delegate.problems.joined(separator: "; "))\n\(text)")
        }
        return delegate.document
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        var document = JUnitDocument()
        var element: String?
        var text = ""
        var open: [String] = []
        var problems: [String] = []

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            if document.root.isEmpty {
                document.root = name
                if name != "testsuites" && name != "testsuite" { problems.append("root element <\(name)>") }
            }
            if let rule = JUnitDocument.schema[name] {
                if let parent = open.last, JUnitDocument.schema[parent]?.children.contains(name) != true {
                    problems.append("<\(name)> inside <\(parent)>")
                }
                for extra in Set(attributes.keys).subtracting(rule.attributes) {
                    problems.append("<\(name)> has attribute \(extra)")
                }
                for missing in rule.required.subtracting(attributes.keys) {
                    problems.append("<\(name)> lacks attribute \(missing)")
                }
            } else {
                problems.append("element <\(name)>")
            }
            open.append(name)
            text = ""
            element = name
            switch name {
            case "testsuite":
                document.suites.append(
                    Suite(
                        name: attributes["name"] ?? "", tests: Int(attributes["tests"] ?? "") ?? -1,
                        failures: Int(attributes["failures"] ?? "") ?? -1,
                        errors: Int(attributes["errors"] ?? "") ?? -1))
            case "testcase":
                document.suites[document.suites.count - 1].cases.append(
                    Case(name: attributes["name"] ?? ""))
            case "failure":
                lastCase { $0.failureMessage = attributes["message"] ?? "" }
            case "error":
                lastCase { $0.errorMessage = attributes["message"] ?? "" }
            default: break
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            _ = open.popLast()
            switch name {
            case "failure": lastCase { $0.failureText = text }
            case "system-out": lastCase { $0.systemOut = text }
            default: break
            }
            text = ""
        }

        func lastCase(_ change: (inout Case) -> Void) {
            guard !document.suites.isEmpty, !document.suites[document.suites.count - 1].cases.isEmpty else { return }
            let s = document.suites.count - 1
            change(&document.suites[s].cases[document.suites[s].cases.count - 1])
        }
    }
}
