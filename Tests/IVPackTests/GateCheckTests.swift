import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The history rules against a previous release, the component diff, approvals, the `check` and
/// `diff` commands with their JSON and SARIF output, and the example releases.
@Suite struct GateCheckTests {
    /// A fixture release at `version` with conforming notes naming `items` and `level`.
    static func release(
        _ version: String, previous: String = "V2.3.1.1024", level: String = "Z",
        items: [GateNotes.Item] = [("CR-812", "Fixed", "corrective", "diameter fix")]
    ) -> ReleaseFixture {
        let r = ReleaseFixture(version: version)
        GateNotes.write(
            r,
            text: GateNotes.text(
                version: version, previous: previous, level: level, items: items, sbomSHA256: GateNotes.sbomDigest(r)))
        return r
    }

    static let base = "V2.3.1.1024"

    /// Runs the gate on `current` against the fixture release V2.3.1.1024 (kept alive meanwhile).
    static func gateAfterBase(_ current: ReleaseFixture) throws -> GateReport {
        let base = release(Self.base, previous: "V2.3.0.1013")
        return try withExtendedLifetime(base) {
            try GateNotes.gate(current, previous: try ReleaseUnderCheck.loadSpec(path: base.specPath, hashAll: true))
        }
    }

    /// The history cases: a version after V2.3.1.1024 with the change types of its notes, and the
    /// rule IDs the step must report (empty: it passes).
    @Test(
        .clause("VER-008", "VER-009", "VER-010", "VER-011", "IQ 6.6.1 d"),
        arguments: [
            ("V2.3.2.1031", "Z", "corrective", [String]()),
            ("V2.4.0.1101", "Y", "minor_perfective", []),
            ("V3.0.0.1101", "X", "ai_algorithm_driven", []),
            ("V2.3.1.1100", "B", "build_only", []),
            ("V2.4.0.1101", "X", "ai_algorithm_driven", ["VER-009"]), // under-bump: algorithm change needs X
            ("V3.0.0.1200", "Z", "corrective", ["VER-009"]), // over-bump: corrective only
            ("V2.4.0.1101", "Z", "cyber_patch", ["VER-009"]), // over-bump by one level
            ("V2.4.1.1100", "Y", "minor_perfective", ["VER-010"]), // Y bump without resetting Z
            ("V3.1.0.1100", "X", "major_adaptive", ["VER-010"]), // X bump without resetting Y
            ("V2.3.2.1019", "Z", "corrective", ["VER-008"]), // build number goes back
            ("V2.3.0.1100", "Z", "corrective", ["VER-008"]), // not greater
            ("V2.3.3.1100", "Z", "corrective", ["VER-011"]), // skipped Z value (warning)
        ])
    func historyStepsReportTheirRule(version: String, level: String, type: String, expected: [String]) throws {
        let current = Self.release(version, level: level, items: [("CR-900", "Changed", type, "the change")])
        let report = try Self.gateAfterBase(current)
        #expect(report.ruleIDs == expected, "\(report.text)")
        #expect(report.passed == expected.allSatisfy { GateRuleCatalog.rule($0)?.severity == .warn })
        #expect(report.findings.allSatisfy { $0.file == current.specPath && $0.line == 6 })
    }

    @Test(.clause("VER-013")) func reusedVersionWithOtherContentIsRefused() throws {
        let current = Self.release(Self.base, previous: "V2.3.0.1013")
        current.folder.write("LICENSE.txt", "Another licence text.\n")
        let report = try Self.gateAfterBase(current)
        #expect(report.blockingRuleIDs.contains("VER-013"), "\(report.text)")
        // The same release checked against itself is only a warning.
        let again = try Self.gateAfterBase(Self.release(Self.base, previous: "V2.3.0.1013"))
        #expect(again.ruleIDs == ["VER-013"], "\(again.text)")
        #expect(again.passed)
    }

    @Test(.clause("NOTES-016")) func previousVersionInNotesMustBeThePreviousRelease() throws {
        let current = Self.release("V2.3.2.1031", previous: "V2.3.1.1023")
        // The rollback target the notes give (their previous version) is not the previous release either.
        #expect(try Self.gateAfterBase(current).ruleIDs == ["NOTES-016", "REL-015"])
    }

    @Test(.clause("NOTES-019")) func changedComponentMustBeNamedInTheNotes() throws {
        let current = Self.release("V2.3.2.1031")
        current.folder.write(
            "docs/manual.md",
            "---\ntitle: Installation manual\nversion: V2.3.2.1031\n---\n# Installation manual V2.3.2.1031\n\nInstall with ivpack; new section on proxies.\n"
        )
        let report = try Self.gateAfterBase(current)
        #expect(report.ruleIDs == ["NOTES-019"], "\(report.text)")
        #expect(report.findings[0].message.contains("manuals"))
        let named = Self.release(
            "V2.3.2.1031", items: [("CR-812", "Fixed", "corrective", "proxy section added to docs/manual.md")])
        named.folder.write("docs/manual.md", current.folder.read("docs/manual.md"))
        #expect(try Self.gateAfterBase(named).findings.isEmpty)
    }

    @Test(.clause("NOTES-019")) func versionRestampIsNotAChange() throws {
        let baseFixture = Self.release(Self.base, previous: "V2.3.0.1013")
        let previous = try ReleaseUnderCheck.loadSpec(path: baseFixture.specPath, hashAll: true)
        let current = Self.release("V2.3.2.1031")
        let diff = try ReleaseDiff.compute(
            old: previous, new: try ReleaseUnderCheck.loadSpec(path: current.specPath, hashAll: true), policy: .nmpa)
        let byName = Dictionary(uniqueKeysWithValues: diff.components.map { ($0.name, $0) })
        #expect(byName["nodule-detector"]?.status == .restamped)
        #expect(byName["inference-service"]?.status == .restamped)
        #expect(byName["manuals"]?.status == .restamped)
        #expect(byName["sbom"]?.status == .restamped)
        #expect(byName["licences"]?.status == .unchanged)
        #expect(diff.actualLevel == .patch)
        withExtendedLifetime(baseFixture) {}
    }

    @Test(.clause("NOTES-020", "REL-012")) func changedModelNeedsAnAIChangeItem() throws {
        let current = Self.release("V2.3.2.1031")
        current.folder.write(
            "models/detector.safetensors",
            FormatFixtures.safetensors(metadata: ["version": "V2.3.2.1031", "arch": "unet"], tensorBytes: 8192))
        let report = try Self.gateAfterBase(current)
        // The notes' weights digest is the old model's too (NOTES-008).
        #expect(report.ruleIDs == ["NOTES-019", "NOTES-020", "NOTES-008"], "\(report.text)")
        let items: [GateNotes.Item] = [
            (
                "CR-830", "Changed", "ai_data_driven_nonsignificant",
                "nodule-detector retrained, no significant difference"
            )
        ]
        let retrained = Self.release("V2.4.0.1101", level: "Y", items: items)
        retrained.folder.write(
            "models/detector.safetensors",
            FormatFixtures.safetensors(metadata: ["version": "V2.4.0.1101", "arch": "unet"], tensorBytes: 8192))
        GateNotes.write(
            retrained,
            text: GateNotes.text(
                version: "V2.4.0.1101", previous: Self.base, level: "Y", items: items,
                sbomSHA256: GateNotes.sbomDigest(retrained),
                modelSHA256: SHA256Digest.of(retrained.folder.read("models/detector.safetensors")).hex))
        let ok = try Self.gateAfterBase(retrained)
        #expect(ok.findings.isEmpty, "\(ok.text)")
        #expect(ok.actualLevel == .minor && ok.requiredLevel == .minor)
    }

    // MARK: Approvals

    @Test(.clause("REL-006", "IQ 6.6.1 f")) func approvalsVerifiedWithTrustPolicy() throws {
        let signed = try SignedRelease(signedBy: ["release-manager"])
        func approvals(_ trust: TrustPolicy?) throws -> [Finding] {
            let release = try ReleaseUnderCheck.loadBundle(path: signed.bundle)
            let context = try GateContext(
                policy: .nmpa, channel: GatePolicy.nmpa.channel("market")!, release: release, trust: trust,
                now: Timestamp.now())
            return ApprovalRule().check(context)
        }
        let verified = try approvals(try signed.policy())
        #expect(verified.map(\.severity) == [.block], "\(verified)")
        #expect(verified[0].message.contains("quality"))
        let unverified = try approvals(nil)
        #expect(unverified.map(\.severity) == [.block, .warn], "\(unverified)")
        #expect(unverified[1].message.contains("not verified"))
        try signed.sign(role: "quality")
        #expect(try approvals(try signed.policy()).isEmpty)
        #expect(try approvals(nil).map(\.severity) == [.warn])
    }

    @Test(.clause("REL-006", "IQ 6.6.1 f")) func approvalClaimedByTheWrongCertificateFails() throws {
        let signed = try SignedRelease(signedBy: [])
        // The release manager's certificate signs, claiming the quality role.
        try signed.sign(role: "quality", identity: signed.pki.releaseManager)
        let release = try ReleaseUnderCheck.loadBundle(path: signed.bundle)
        let context = try GateContext(
            policy: .nmpa, channel: GatePolicy.nmpa.channel("market")!, release: release,
            trust: try signed.policy(), now: Timestamp.now())
        let findings = ApprovalRule().check(context)
        #expect(findings.contains { $0.ruleID == "REL-006" && $0.message.contains("001-quality") }, "\(findings)")
        #expect(findings.filter { $0.message.contains("has no valid signature") }.count == 2, "\(findings)")
        #expect(findings.allSatisfy { $0.severity == .block })
    }

    // MARK: The commands

    @Test func checkCommandWritesTextJSONAndSARIF() throws {
        let out = TemporaryFolder()
        let old = Self.release(Self.base, previous: "V2.3.0.1013")
        _ = try old.build(to: out.url("old.ivp"))
        let new = Self.release("V2.4.0.1101", level: "Z") // a Y step for corrective items: VER-009
        new.folder.write(
            "release-notes.md", new.folder.read("release-notes.md") + Array("\nTODO: regression numbers\n".utf8))
        _ = try new.build(to: out.url("new.ivp"))

        let pass = ivpack(["check", out.url("old.ivp")])
        #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
        #expect(pass.stdout.contains("Result: PASS"))
        #expect(pass.stdout.contains("REL-006")) // unsigned: a warning

        let text = ivpack(["check", out.url("new.ivp"), "--previous", out.url("old.ivp")])
        #expect(text.status == 1, "\(text.stdout)\(text.stderr)")
        #expect(text.stdout.contains("BLOCK VER-009"))
        #expect(text.stdout.contains("BLOCK NOTES-018 release-notes.md:"))
        #expect(text.stdout.contains("fix: "))

        let json = ivpack(["check", out.url("new.ivp"), "--previous", out.url("old.ivp"), "--format", "json"])
        #expect(json.status == 1)
        out.write("report.json", json.stdout)
        let value = try JSONParser.parse(Array(json.stdout.utf8))
        #expect(value["result"]?.stringValue == "fail")
        #expect(value["actualLevel"]?.stringValue == "minor" && value["requiredLevel"]?.stringValue == "patch")
        let ids = value["findings"]?.arrayValue?.compactMap { $0["ruleId"]?.stringValue } ?? []
        #expect(Set(ids) == ["VER-009", "NOTES-018", "REL-006"], "\(ids)")

        let sarif = ivpack(["check", out.url("new.ivp"), "--previous", out.url("old.ivp"), "--format", "sarif"])
        #expect(sarif.status == 1)
        #expect(sarif.stderr.contains("VER-009"))
        out.write("gate.sarif", sarif.stdout)
        let log = try JSONParser.parse(Array(sarif.stdout.utf8))
        let runs: [JSONValue] = log["runs"]?.arrayValue ?? []
        let results: [JSONValue] = runs.first?["results"]?.arrayValue ?? []
        let resultIDs: [String] = results.compactMap { $0["ruleId"]?.stringValue }
        let levels: [String] = results.compactMap { $0["level"]?.stringValue }
        #expect(resultIDs.contains("NOTES-018"))
        #expect(levels.contains("error") && levels.contains("warning"))

        let validate = run(
            "/usr/bin/env",
            [
                "python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py",
                "--sarif", out.url("gate.sarif"), "--check-report", out.url("report.json"),
            ], in: SchemaTests.repositoryRoot)
        #expect(validate.status == 0, "\(validate.stdout)\(validate.stderr)")
        #expect(validate.stdout.contains("ok   sarif"))
    }

    @Test func schemaCheckRejectsABrokenSARIFLog() throws {
        let out = TemporaryFolder()
        let path = out.write(
            "bad.sarif",
            #"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "ivpack", "version": "1", "rules": []}}, "results": [{"ruleId": "VER-001", "level": "fatal", "message": {"text": "x"}, "locations": []}]}]}"#
        )
        let r = run(
            "/usr/bin/env", ["python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py", "--sarif", path],
            in: SchemaTests.repositoryRoot)
        #expect(r.status == 1)
        #expect(r.stderr.contains("level"), "\(r.stderr)")
    }

    @Test func checkCommandRefusesUnknownChannelAndBadPolicy() throws {
        let r = Self.release(Self.base, previous: "V2.3.0.1013")
        let channel = ivpack(["check", r.specPath, "--channel", "beta"])
        #expect(channel.status == 2, "\(channel.stderr)")
        #expect(channel.stderr.contains("market, internal"))
        let policy = ivpack([
            "check", r.specPath, "--policy",
            r.folder.write("p.yaml", "apiVersion: ivpack.dev/v1\nkind: GatePolicy\nbogus: 1\n"),
        ])
        #expect(policy.status == 2, "\(policy.stderr)")
        #expect(policy.stderr.contains("p.yaml:3:1"))
        let internalVersion = Self.release("V0.9.0.311", previous: "无")
        #expect(ivpack(["check", internalVersion.specPath]).status == 1)
        let internalCheck = ivpack(["check", internalVersion.specPath, "--channel", "internal"])
        #expect(internalCheck.status == 0, "\(internalCheck.stdout)")
    }

    @Test func diffCommandListsComponentsAndStep() throws {
        let out = TemporaryFolder()
        let old = Self.release(Self.base, previous: "V2.3.0.1013")
        _ = try old.build(to: out.url("old.ivp"))
        let new = Self.release("V2.4.0.1101", level: "Y")
        new.writeModel(version: "V2.4.0.1101")
        new.folder.write(
            "models/detector.safetensors",
            FormatFixtures.safetensors(metadata: ["version": "V2.4.0.1101", "arch": "unet"], tensorBytes: 8192))
        _ = try new.build(to: out.url("new.ivp"))
        let r = ivpack(["diff", out.url("old.ivp"), out.url("new.ivp"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let value = try JSONParser.parse(Array(r.stdout.utf8))
        #expect(value["step"]?.stringValue == "minor")
        let components = value["components"]?.arrayValue ?? []
        let model = try #require(components.first { $0["name"]?.stringValue == "nodule-detector" })
        #expect(model["status"]?.stringValue == "changed")
        let file = try #require(model["files"]?.arrayValue?.first)
        #expect(
            file["oldSHA256"]?.stringValue?.count == 64
                && file["newSHA256"]?.stringValue != file["oldSHA256"]?.stringValue)
        #expect(components.first { $0["name"]?.stringValue == "licences" }?["status"]?.stringValue == "unchanged")
        let text = ivpack(["diff", out.url("old.ivp"), out.url("new.ivp")])
        #expect(text.stdout.contains("V2.3.1.1024 → V2.4.0.1101: step Y (minor)"))
        #expect(text.stdout.contains("changed   nodule-detector [model]"))
    }

    // MARK: The example release and its successor

    /// Copies Examples/pulmoscan into a fresh git repository, optionally restamped to `version`
    /// with new model weights and the given notes, commits, tags and builds it.
    static func exampleBundle(
        version: String = base, notes: ((String, String) -> String)? = nil, retrain: Bool = false,
        into out: TemporaryFolder
    ) throws -> String {
        let folder = TemporaryFolder("ivpack-example")
        let example = SchemaTests.repositoryRoot + "/Examples/pulmoscan"
        let files = FileManager.default.enumerator(atPath: example)!.compactMap { $0 as? String }.filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: example + "/" + path, isDirectory: &isDirectory)
                && !isDirectory.boolValue
                && !path.contains("__pycache__")
        }
        let oldNotes = try String(contentsOfFile: example + "/release-notes/\(base).md", encoding: .utf8)
        let oldSBOM = SHA256Digest.of(
            Array(FileManager.default.contents(atPath: example + "/sbom/pulmoscan.cdx.json")!)
        ).hex
        for path in files where !path.hasPrefix("release-notes/") {
            var bytes = Array(FileManager.default.contents(atPath: example + "/" + path)!)
            if version != base {
                // Same length (11 characters), so PDF offsets and the safetensors header length hold.
                precondition(version.count == base.count)
                while let r = bytes.firstRange(of: Array(base.utf8)) {
                    bytes.replaceSubrange(r, with: Array(version.utf8))
                }
            }
            if retrain && path.hasSuffix(".safetensors") { bytes[bytes.count - 1] ^= 0x5A }
            folder.write(path, bytes, mode: path.hasSuffix(".py") ? 0o644 : 0o644)
        }
        let newSBOM = SHA256Digest.of(folder.read("sbom/pulmoscan.cdx.json")).hex
        let model = "models/nodule-detector.safetensors"
        let oldModel = SHA256Digest.of(Array(FileManager.default.contents(atPath: example + "/" + model)!)).hex
        let newModel = SHA256Digest.of(folder.read(model)).hex
        var text = oldNotes
        if let notes {
            text = notes(
                oldNotes.replacingOccurrences(of: base, with: version).replacingOccurrences(of: oldSBOM, with: newSBOM)
                    .replacingOccurrences(of: oldModel, with: newModel),
                version)
        }
        folder.write("release-notes/\(version).md", text)
        if version != base || retrain {
            // The test system tests the new artifact: its report names the new artifact digest.
            let report = "verification/TR-2026-311.test-report.json"
            let artifact = try #require(try ReleaseUnderCheck.loadSpec(path: folder.url("ivpack.yaml")).artifactDigest)
            var json = String(decoding: folder.read(report), as: UTF8.self)
            let key = "\"artifact_sha256\": \""
            let start = try #require(json.range(of: key)).upperBound
            json.replaceSubrange(start..<json.index(start, offsetBy: 64), with: artifact.hex)
            folder.write(report, json)
        }
        git(["init", "-q", "-b", "main"], in: folder.path)
        git(["add", "-A"], in: folder.path)
        git(["commit", "-q", "-m", "Release \(version)"], in: folder.path)
        git(["tag", "-a", version, "-m", "Release \(version)"], in: folder.path)
        let bundle = out.url("pulmoscan-\(version).ivp")
        _ = try BundleBuilder.build(
            specPath: folder.url("ivpack.yaml"), outputPath: bundle, sourceDateEpoch: 1_790_000_000)
        return bundle
    }

    /// The next release's notes: a non-significant data-driven retrain (Y), from the example's.
    static func nextNotes(level: String, item: String?) -> (String, String) -> String {
        { text, version in
            let fields = version.dropFirst().split(separator: ".")
            var t = text.replacingOccurrences(
                of: "previous_released_version: V2.3.0.1013", with: "previous_released_version: \(base)"
            )
            .replacingOccurrences(of: "  target: V2.3.0.1013", with: "  target: \(base)")
            .replacingOccurrences(
                of: "semver: 2.3.1+1024", with: "semver: \(fields[0]).\(fields[1]).\(fields[2])+\(fields[3])"
            )
            .replacingOccurrences(of: "update_level: Z", with: "update_level: \(level)")
            if let item {
                t = t.replacingOccurrences(of: "update_driver: 无 none", with: "update_driver: 数据驱动 data-driven")
                t = t.replacingOccurrences(
                    of: "### 变更 Changed\n无 / None",
                    with: """
                        ### 变更 Changed

                        | ID | KaC | change_type | 重大/轻微 | 类别 Class | 需求 Req | 风险 Risk | 测试 Test |
                        |---|---|---|---|---|---|---|---|
                        | CR-830 | Changed | `\(item)` | 轻微 minor | 增强类/完善型 | SRS-060 | RM-003 | ST-301 |

                        - CR-830: nodule-detector retrained with 1,200 more CT series; no significant difference on PS-CT-TEST-SEQ-02.
                        """)
            }
            return t
        }
    }

    @Test func exampleReleasePassesTheGate() throws {
        let out = TemporaryFolder()
        let bundle = try Self.exampleBundle(into: out)
        let r = ivpack(["check", bundle, "--policy", "nmpa"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("Result: PASS"))
    }

    @Test(.clause("NOTES-020", "REL-012", "VER-009")) func nextExampleReleaseWithModelUpdatePassesAndWrongVariantsFail()
        throws
    {
        let out = TemporaryFolder()
        let previous = try Self.exampleBundle(into: out)
        let next = try Self.exampleBundle(
            version: "V2.4.0.1101", notes: Self.nextNotes(level: "Y", item: "ai_data_driven_nonsignificant"),
            retrain: true, into: out)
        let good = ivpack(["check", next, "--previous", previous, "--format", "json"])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        let report = try JSONParser.parse(Array(good.stdout.utf8))
        #expect(report["requiredLevel"]?.stringValue == "minor")
        #expect(report["actualLevel"]?.stringValue == "minor")

        // A Z step for a Y change.
        let underBumped = try Self.exampleBundle(
            version: "V2.3.2.1101", notes: Self.nextNotes(level: "Y", item: "ai_data_driven_nonsignificant"),
            retrain: true, into: out)
        let under = ivpack(["check", underBumped, "--previous", previous, "--format", "json"])
        #expect(under.status == 1)
        let underIDs =
            try JSONParser.parse(Array(under.stdout.utf8))["findings"]?.arrayValue?.compactMap {
                $0["ruleId"]?.stringValue
            } ?? []
        #expect(underIDs.filter { $0 != "REL-006" } == ["VER-009"], "\(under.stdout)")

        // New weights without a model change item: the corrective notes of the example, bumped to Y.
        let unexplained = try Self.exampleBundle(
            version: "V2.4.0.1102", notes: Self.nextNotes(level: "Z", item: nil), retrain: true, into: out)
        let bad = ivpack(["check", unexplained, "--previous", previous, "--format", "json"])
        #expect(bad.status == 1)
        let badIDs =
            try JSONParser.parse(Array(bad.stdout.utf8))["findings"]?.arrayValue?.compactMap {
                $0["ruleId"]?.stringValue
            } ?? []
        #expect(Set(badIDs.filter { $0 != "REL-006" }) == ["VER-009", "NOTES-020"], "\(bad.stdout)")
    }
}
