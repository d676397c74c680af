import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Version naming under the nmpa and semver presets: the strings of REGULATORY.md section 6, each
/// invalid one with the rule it breaks, and policy files that change the defaults.
@Suite(.clause("IQ 6.6.1 d")) struct GateVersionTests {
    static let market = GatePolicy.nmpa.channel("market")!
    static let internalChannel = GatePolicy.nmpa.channel("internal")!

    static func check(_ version: String, policy: GatePolicy = .nmpa, channel: String = "market") -> VersionCheck {
        VersionNaming.check(version, policy: policy, channel: policy.channel(channel)!, file: "ivpack.yaml", line: 7)
    }

    /// REGULATORY.md 6.1: ten valid market versions, with the derived release version and SemVer.
    @Test(
        .clause("VER-001", "VER-015"),
        arguments: [
            ("V1.0.0.1", "V1", "1.0.0+1"), ("V1.0.1.15", "V1", "1.0.1+15"), ("V1.1.0.42", "V1", "1.1.0+42"),
            ("V2.0.0.118", "V2", "2.0.0+118"), ("V2.3.1.1024", "V2", "2.3.1+1024"), ("V2.3.2.1031", "V2", "2.3.2+1031"),
            ("V2.4.0.1101", "V2", "2.4.0+1101"), ("V3.0.0.5120", "V3", "3.0.0+5120"),
            ("V10.2.0.20481", "V10", "10.2.0+20481"),
            ("V1.2.3.999999", "V1", "1.2.3+999999"),
        ])
    func validMarketVersionsPass(version: String, release: String, semver: String) throws {
        let result = Self.check(version)
        #expect(result.findings.isEmpty, "\(result.findings)")
        let parsed = try #require(result.parsed)
        #expect(parsed.releaseVersion(prefix: "V") == release)
        #expect(parsed.derivedSemVer == semver)
        #expect(SemVer.isValid(parsed.derivedSemVer))
    }

    @Test(.clause("VER-005", "VER-006"), arguments: ["V2.3.2.1031-rc.1", "V0.9.0.311", "V0.1.0.1-alpha.2"])
    func internalOnlyVersionsPassInTheInternalChannel(version: String) {
        #expect(Self.check(version, channel: "internal").findings.isEmpty)
    }

    /// REGULATORY.md 6.2 and the ASCII cases of the issue, each with the rule ID it must report.
    @Test(
        .clause("VER-001", "VER-003", "VER-004", "VER-005", "VER-006", "VER-007"),
        arguments: [
            ("2.3.1.1024", "VER-001"), ("v2.3.1.1024", "VER-001"), ("V2.3.1", "VER-001"), ("V2.03.1.1024", "VER-001"),
            ("V2.3.1.1024-rc.1", "VER-006"), ("V2.3.1.1024+g3f9c2e", "VER-007"), ("V0.9.0.311", "VER-005"),
            ("V1.0.0.081015release", "VER-004"), ("V２.３.１.１０２４", "VER-004"), ("V1.0.0.0", "VER-003"),
            ("V2.3.1.1024\n", "VER-004"), ("V2.3.1.1024 ", "VER-004"), (" V2.3.1.1024", "VER-004"),
            ("V2.3.1.1O24", "VER-004"),
            ("V2.3.1.1024.7", "VER-007"), ("V1000.0.0.1", "VER-003"), ("V1.0.0.1234567", "VER-003"),
            ("V2..1.1024", "VER-001"),
            ("V2.3.1.1024-beta", "VER-001"), ("V2.3.1.1024-rc.01", "VER-001"), ("", "VER-001"),
        ])
    func invalidVersionsReportTheirRule(version: String, rule: String) {
        let result = Self.check(version)
        #expect(
            result.ruleIDs.contains(rule),
            "\(version.debugDescription): \(result.findings.map { "\($0.ruleID) \($0.message)" })")
        #expect(
            result.findings.allSatisfy {
                $0.severity == .block && $0.file == "ivpack.yaml" && $0.line == 7 && !$0.hint.isEmpty
                    && !$0.clause.isEmpty
            })
    }

    @Test func fullWidthDigitsAreNamedInTheMessage() {
        let result = Self.check("V２.３.１.１０２４")
        #expect(result.findings.first?.message.contains("full-width digit") == true)
        #expect(result.parsed == nil)
    }

    @Test func trailingNewlineIsShownEscaped() {
        let message = Self.check("V2.3.1.1024\n").findings.first?.message ?? ""
        #expect(message.contains("\\n"))
        #expect(message.contains("line break"))
    }

    @Test(.clause("VER-003", "VER-007")) func internalChannelStillRefusesBuildMetadataAndReservedBuild() {
        #expect(Self.check("V2.3.1.1024+abc", channel: "internal").ruleIDs == ["VER-007"])
        #expect(Self.check("V0.9.0.0", channel: "internal").ruleIDs == ["VER-003"])
    }

    @Test(
        .clause("VER-015"),
        arguments: [
            ("1.2.3", true), ("0.1.0", true), ("1.0.0-rc.1", true), ("1.0.0-0.3.7", true),
            ("1.0.0+20130313144700", true),
            ("1.0.0-alpha+001", true), ("01.2.3", false), ("1.2", false), ("1.2.3-", false), ("1.2.3-01", false),
            ("1.2.3+", false), ("1.2.3.4", false), ("１.2.3", false), ("v1.2.3", false),
        ])
    func semverPatternMatchesTheOfficialGrammar(text: String, valid: Bool) {
        #expect(SemVer.isValid(text) == valid)
    }

    @Test(arguments: [
        ("1.2.3", [String]()), ("0.9.1", []), ("V1.2.3", ["VER-001"]), ("1.2.3.4", ["VER-007"]),
        ("1.02.3", ["VER-001"]),
        ("1.2.3-rc.1", ["VER-006"]), ("1.2.3+build.5", ["VER-007"]),
    ])
    func semverPresetNamesVersionsWithoutPrefix(text: String, rules: [String]) {
        #expect(Self.check(text, policy: .semver).ruleIDs == rules)
    }

    @Test func preReleaseOrdersBeforeItsRelease() throws {
        let rc = try #require(Self.check("V2.3.2.1031-rc.1", channel: "internal").parsed)
        let release = try #require(Self.check("V2.3.2.1031").parsed)
        let rc2 = try #require(Self.check("V2.3.2.1031-rc.2", channel: "internal").parsed)
        #expect(rc.compare(to: release) == -1)
        #expect(rc2.compare(to: rc) == 1)
        #expect(release.compare(to: release) == 0)
    }

    // MARK: Policy files

    @Test(.clause("VER-003")) func policyFileOverridesPresetValues() throws {
        let folder = TemporaryFolder()
        let path = folder.write(
            "gate.yaml",
            """
            apiVersion: ivpack.dev/v1
            kind: GatePolicy
            preset: nmpa
            version:
              digits: {major: 2, build: 8}
              reserved: {build: []}
            channels:
              market: {preRelease: false, reservedMajor: false}
              clinical-trial: {preRelease: true, reservedMajor: false}
            defaultChannel: clinical-trial
            changeTypes:
              fix: patch
              feature: Y
              breaking: major
              rebuild: B
            modelChangeTypes: [feature]
            releaseNotes:
              headings: either
              placeholders: [TODO]
            approvals:
              requiredRoles: [release-manager, quality, regulatory]
            """)
        let policy = try GatePolicy.load(path: path)
        #expect(policy.name == path)
        #expect(policy.digits[.major] == 2 && policy.digits[.build] == 8 && policy.digits[.minor] == 3)
        #expect(policy.defaultChannel == "clinical-trial")
        #expect(policy.changeTypes.map(\.name) == ["fix", "feature", "breaking", "rebuild"])
        #expect(policy.level(of: "feature") == .minor && policy.level(of: "rebuild") == .build)
        #expect(policy.notes.sections == GatePolicy.nmpa.notes.sections)
        #expect(policy.requiredRoles == ["release-manager", "quality", "regulatory"])
        let trial = try #require(policy.channel("clinical-trial"))
        #expect(
            VersionNaming.check("V100.0.0.1", policy: policy, channel: trial, file: "x", line: nil).ruleIDs == [
                "VER-003"
            ])
        #expect(VersionNaming.check("V1.0.0.0", policy: policy, channel: trial, file: "x", line: nil).findings.isEmpty)
        #expect(
            VersionNaming.check("V1.0.0.12345678-rc.1", policy: policy, channel: trial, file: "x", line: nil).findings
                .isEmpty)
        let r = run(
            "/usr/bin/env",
            ["python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py", "--gate-policy", path],
            in: SchemaTests.repositoryRoot)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test(arguments: [
        ("apiVersion: ivpack.dev/v1\nkind: GatePolicy\nversionn: {}\n", 3, "unknown key"),
        ("apiVersion: ivpack.dev/v1\nkind: GatePolicy\npreset: fda\n", 3, "unknown preset"),
        ("apiVersion: ivpack.dev/v1\nkind: GatePolicy\nchangeTypes:\n  fix: tiny\n", 4, "is not a level"),
        ("apiVersion: ivpack.dev/v1\nkind: GatePolicy\ndefaultChannel: beta\n", 3, "is not one of the channels"),
        ("apiVersion: ivpack.dev/v1\nkind: GatePolicy\nversion:\n  digits: {major: 0}\n", 4, "out of range"),
        (
            "apiVersion: ivpack.dev/v1\nkind: GatePolicy\npreset: semver\nchangeTypes:\n  rebuild: build\n", 5,
            "not a level of the semver scheme"
        ),
    ])
    func badPolicyFilesNameLineAndProblem(text: String, line: Int, problem: String) throws {
        let error = try #require(throws: InputError.self) { try GatePolicy.parse(text: text, file: "gate.yaml") }
        #expect(error.kind == .yaml)
        #expect(error.line == line, "\(error)")
        #expect(error.description.contains(problem), "\(error)")
        #expect(error.exitStatus == .badInput)
    }

    @Test func presetsResolveByName() throws {
        #expect(try GatePolicy.resolve("nmpa") == GatePolicy.nmpa)
        #expect(try GatePolicy.resolve("semver").scheme == .semver)
        #expect(GatePolicy.semver.level(of: "build_only") == .patch)
        #expect(GatePolicy.nmpa.changeTypes.count == 15)
        #expect(GatePolicy.nmpa.notes.sections.count == 14)
    }
}
