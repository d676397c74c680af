import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The regulatory rules on real release folders: rollback (NOTES-013, REL-015), regulatory impact
/// (NOTES-011, REL-008), the AI record (NOTES-008, REL-014) and test reports (REL-001). Each starts
/// from the conforming fixture notes and breaks one thing.
@Suite struct GateRegulatoryTests {
    /// The fixture release with conforming notes edited by `edit`, checked under `policy`.
    static func gate(
        version: String = ReleaseFixture.defaultVersion, level: String = "Z",
        items: [GateNotes.Item] = [("CR-812", "Fixed", "corrective", "diameter fix")],
        policy: GatePolicy = .nmpa, edit: (String) -> String = { $0 }
    ) throws -> GateReport {
        let release = ReleaseFixture(version: version)
        let text = GateNotes.text(
            version: version, level: level, items: items, sbomSHA256: GateNotes.sbomDigest(release))
        GateNotes.write(release, text: edit(text))
        return try GateNotes.gate(release, policy: policy)
    }

    /// A policy that requires no record: what is present is still checked.
    static var noRecords: GatePolicy {
        var p = GatePolicy.nmpa
        p.notes.records = []
        return p
    }

    /// `text` with the front matter lines from the one starting with `key` up to the next top-level key removed.
    static func removing(_ key: String, from text: String) -> String {
        var lines = text.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.hasPrefix(key + ":") }) else { return text }
        let end = lines[(start + 1)...].firstIndex { !$0.hasPrefix(" ") } ?? lines.count
        lines.removeSubrange(start..<end)
        return lines.joined(separator: "\n")
    }

    // MARK: NOTES-013, REL-015

    @Test(.clause("REL-015")) func rollbackToThePreviousReleasePasses() throws {
        let report = try Self.gate()
        #expect(report.findings.isEmpty, "\(report.text)")
    }

    @Test(.clause("REL-015")) func rollbackToAnotherVersionThanThePreviousReleaseIsRefused() throws {
        let report = try Self.gate {
            $0.replacingOccurrences(of: "  target: V2.3.0.1013", with: "  target: V2.2.0.861")
        }
        #expect(report.ruleIDs == ["REL-015"], "\(report.text)")
        #expect(report.findings[0].message.contains("V2.2.0.861"))
        #expect(report.findings[0].hint.contains("rollback.target: V2.3.0.1013"))
    }

    @Test(.clause("REL-015")) func untestedRollbackWithoutEvidenceIsRefused() throws {
        let report = try Self.gate {
            $0.replacingOccurrences(of: "  tested: true", with: "  tested: false")
                .replacingOccurrences(of: "  evidence: TR-ROLLBACK-77\n", with: "")
        }
        #expect(report.ruleIDs == ["REL-015", "REL-015"], "\(report.text)")
    }

    @Test(.clause("NOTES-013")) func rollbackStatementsAreRequired() throws {
        let report = try Self.gate { $0.replacingOccurrences(of: "  data_migration: 无 / none\n", with: "") }
        #expect(report.ruleIDs == ["NOTES-013"], "\(report.text)")
        #expect(report.findings[0].message.contains("data_migration"))
    }

    @Test(.clause("NOTES-013")) func missingRollbackRecordBlocksOnlyWherePolicyRequiresIt() throws {
        let nmpa = try Self.gate { Self.removing("rollback", from: $0) }
        #expect(nmpa.ruleIDs == ["NOTES-013"], "\(nmpa.text)")
        #expect(nmpa.findings[0].hint.contains("target: V2.3.0.1013"))
        let relaxed = try Self.gate(policy: Self.noRecords) { Self.removing("rollback", from: $0) }
        #expect(relaxed.findings.isEmpty, "\(relaxed.text)")
    }

    // MARK: NOTES-011, REL-008

    @Test(.clause("NOTES-011", "REL-007")) func majorStepNeedsTheCNApprovalNumber() throws {
        let items: [GateNotes.Item] = [("CR-900", "Changed", "major_perfective", "new lesion type")]
        let approved = try Self.gate(version: "V3.0.0.1101", level: "X", items: items)
        #expect(approved.findings.isEmpty, "\(approved.text)")
        let missing = try Self.gate(version: "V3.0.0.1101", level: "X", items: items) {
            $0.replacingOccurrences(of: "approval_number: 国械注准20263210001", with: "approval_number: null")
        }
        #expect(missing.ruleIDs == ["NOTES-011"], "\(missing.text)")
        #expect(missing.findings[0].message.contains("approval number"))
    }

    @Test(.clause("NOTES-011")) func everyMarketNeedsADecisionRecord() throws {
        let report = try Self.gate {
            $0.replacingOccurrences(
                of: "EU: {significant_change: false, decision_record: RA-2026-033}",
                with: "EU: {significant_change: false}")
        }
        #expect(report.ruleIDs == ["NOTES-011"], "\(report.text)")
        #expect(report.findings[0].message.contains("regulatory.EU"))
    }

    static let usLine = "US: {pathway: letter-to-file, decision_record: RA-2026-032}"

    static func pccp(_ results: String) -> String {
        """
        US:
            pathway: pccp
            decision_record: RA-2026-032
            pccp:
              title: PulmoScan AI PCCP
              version: "1.2"
              modification_id: MOD-03
              acceptance_results: \(results)
        """
    }

    @Test(.clause("REL-008")) func pccpWithEveryCriterionPassedPasses() throws {
        let report = try Self.gate {
            $0.replacingOccurrences(
                of: Self.usLine,
                with: Self.pccp("[{criterion: AC-1, result: pass}, {criterion: AC-2, result: pass}]"))
        }
        #expect(report.findings.isEmpty, "\(report.text)")
    }

    @Test(.clause("REL-008")) func pccpWithAFailedOrOverriddenCriterionIsRefused() throws {
        let report = try Self.gate {
            $0.replacingOccurrences(
                of: Self.usLine,
                with: Self.pccp(
                    "[{criterion: AC-1, result: pass}, {criterion: AC-2, result: fail}, {criterion: AC-3, result: pass, overridden: true}]"
                ))
        }
        #expect(report.ruleIDs == ["REL-008", "REL-008"], "\(report.text)")
        #expect(report.findings[0].message.contains("AC-2"))
        #expect(report.findings[1].message.contains("AC-3"))
        let noModification = try Self.gate {
            $0.replacingOccurrences(
                of: Self.usLine, with: Self.pccp("[{criterion: AC-1, result: pass}]")
            )
            .replacingOccurrences(of: "      modification_id: MOD-03\n", with: "")
        }
        #expect(noModification.ruleIDs == ["REL-008"], "\(noModification.text)")
    }

    // MARK: NOTES-008, REL-014

    @Test(.clause("NOTES-008")) func modelDigestMustBeTheWeightsThatShip() throws {
        let release = ReleaseFixture()
        GateNotes.write(release)
        #expect(try GateNotes.gate(release).findings.isEmpty)
        // Other weights in the release than those the notes describe.
        release.folder.write(
            "models/detector.safetensors",
            FormatFixtures.safetensors(metadata: ["version": release.version, "arch": "unet"], tensorBytes: 8192))
        let actual = SHA256Digest.of(release.folder.read("models/detector.safetensors")).hex
        let report = try GateNotes.gate(release)
        #expect(report.ruleIDs == ["NOTES-008"], "\(report.text)")
        #expect(report.findings[0].message.contains(actual))
        #expect(report.findings[0].hint == "Write the digest of the weights that ship: sha256: \(actual)")
    }

    @Test(.clause("NOTES-008")) func modelFileMustBeInTheRelease() throws {
        let report = try Self.gate {
            $0.replacingOccurrences(of: "file: models/detector.safetensors", with: "file: models/other.safetensors")
        }
        #expect(report.ruleIDs == ["NOTES-008"], "\(report.text)")
    }

    @Test(.clause("NOTES-008", "REL-013")) func testSetMustBeTheBaselinesTestSet() throws {
        let other = String(repeating: "ab", count: 32)
        let report = try Self.gate {
            $0.replacingOccurrences(
                of: "test_set_sha256: \(GateNotes.testSetDigest)", with: "test_set_sha256: \(other)")
        }
        #expect(report.ruleIDs == ["NOTES-008"], "\(report.text)")
        #expect(report.findings[0].message.contains("not the comparison baseline's \(other)"))
    }

    @Test(.clause("NOTES-008")) func updateDriverMustFollowTheChangeItems() throws {
        let items: [GateNotes.Item] = [("CR-830", "Changed", "ai_data_driven_nonsignificant", "retrained")]
        let good = try Self.gate(version: "V2.4.0.1101", level: "Y", items: items)
        #expect(good.findings.isEmpty, "\(good.text)")
        let wrong = try Self.gate(version: "V2.4.0.1101", level: "Y", items: items) {
            $0.replacingOccurrences(of: "update_driver: 数据驱动 data-driven", with: "update_driver: 无 none")
        }
        #expect(wrong.ruleIDs == ["NOTES-008"], "\(wrong.text)")
        #expect(wrong.findings[0].hint.contains("数据驱动"))
    }

    @Test(.clause("NOTES-008", "REL-013")) func conclusionMustFollowPAndTheChangeType() throws {
        // p below alpha, but the notes conclude "not significant" for a non-significant change item.
        let items: [GateNotes.Item] = [("CR-830", "Changed", "ai_data_driven_nonsignificant", "retrained")]
        let report = try Self.gate(version: "V2.4.0.1101", level: "Y", items: items) {
            $0.replacingOccurrences(
                of: "p: 1.0, conclusion: not significant", with: "p: 0.003, conclusion: not significant")
        }
        #expect(report.ruleIDs == ["NOTES-008"], "\(report.text)")
        #expect(report.findings[0].hint == "Write conclusion: significant")
        let significant = try Self.gate(version: "V2.4.0.1101", level: "Y", items: items) {
            $0.replacingOccurrences(
                of: "p: 1.0, conclusion: not significant", with: "p: 0.003, conclusion: significant")
        }
        #expect(significant.ruleIDs == ["NOTES-008"], "\(significant.text)")
        #expect(significant.findings[0].message.contains("ai_data_driven_nonsignificant"))
    }

    @Test(.clause("REL-014")) func adaptiveLearningMustBeOffUnlessCovered() throws {
        let on = try Self.gate {
            $0.replacingOccurrences(
                of: "adaptive_learning: {CN: false, US: false, EU: false}",
                with: "adaptive_learning: {CN: true, US: false, EU: false}")
        }
        #expect(on.ruleIDs == ["REL-014"], "\(on.text)")
        let missingMarket = try Self.gate {
            $0.replacingOccurrences(
                of: "adaptive_learning: {CN: false, US: false, EU: false}",
                with: "adaptive_learning: {CN: false, US: false}")
        }
        #expect(missingMarket.ruleIDs == ["REL-014"], "\(missingMarket.text)")
        let covered = try Self.gate {
            $0.replacingOccurrences(
                of: "adaptive_learning: {CN: false, US: false, EU: false}",
                with: "adaptive_learning: {CN: false, US: {enabled: true, covered_by: PCCP-MOD-04}, EU: false}")
        }
        #expect(covered.findings.isEmpty, "\(covered.text)")
    }

    @Test(.clause("NOTES-008")) func aiRecordIsOptionalOutsideNMPAButCheckedWhenPresent() throws {
        let absent = try Self.gate(policy: Self.noRecords) { Self.removing("ai", from: $0) }
        #expect(absent.findings.isEmpty, "\(absent.text)")
        let wrong = try Self.gate(policy: Self.noRecords) {
            $0.replacingOccurrences(
                of: "test_set_sha256: \(GateNotes.testSetDigest)",
                with: "test_set_sha256: \(String(repeating: "0", count: 64))")
        }
        #expect(wrong.ruleIDs == ["NOTES-008"], "\(wrong.text)")
    }

    // MARK: REL-001

    @Test(.clause("REL-001", "IQ 5.5.1")) func testReportOfAnotherArtifactIsRefused() throws {
        let release = ReleaseFixture()
        GateNotes.write(release)
        #expect(try GateNotes.gate(release, refreshReport: false).findings.isEmpty)
        release.folder.write("LICENSE.txt", "Another licence text.\n")
        let artifact = try #require(try ReleaseUnderCheck.loadSpec(path: release.specPath).artifactDigest).hex
        let report = try GateNotes.gate(release, refreshReport: false)
        #expect(report.ruleIDs == ["REL-001"], "\(report.text)")
        #expect(report.findings[0].message.contains("this release's artifact digest is \(artifact)"))
        #expect(report.findings[0].file == release.root + "/" + GateNotes.reportPath)
    }

    @Test(.clause("REL-001")) func testReportWithFailuresOrUnjustifiedSkipsIsRefused() throws {
        let release = ReleaseFixture()
        GateNotes.write(release)
        let artifact = try #require(try ReleaseUnderCheck.loadSpec(path: release.specPath).artifactDigest).hex
        release.folder.write(
            GateNotes.reportPath,
            GateNotes.testReport(
                version: release.version, artifact: artifact, suites: [("system", 95, 1, 0), ("integration", 60, 0, 4)])
        )
        let report = try GateNotes.gate(release, refreshReport: false)
        #expect(report.ruleIDs == ["REL-001", "REL-001", "REL-001"], "\(report.text)")
        #expect(report.findings.map(\.message).joined().contains("1 test of suite system failed"))
        #expect(report.findings.map(\.message).joined().contains("4 tests of suite integration not run"))
        #expect(report.findings.map(\.message).joined().contains("regression"))
    }

    @Test(.clause("REL-001")) func missingTestReportBlocksUnderNMPA() throws {
        let release = ReleaseFixture()
        GateNotes.write(release)
        release.folder.write("ivpack.yaml", ReleaseFixture.spec(version: release.version))
        let report = try GateNotes.gate(release, refreshReport: false)
        #expect(report.ruleIDs == ["REL-001"], "\(report.text)")
        let artifact = try #require(try ReleaseUnderCheck.loadSpec(path: release.specPath).artifactDigest).hex
        #expect(report.findings[0].hint.contains(artifact))
        #expect(try GateNotes.gate(release, policy: Self.noRecords, refreshReport: false).findings.isEmpty)
    }

    @Test(.clause("REL-001")) func specAndBuiltBundleHaveTheSameArtifactDigest() throws {
        let release = ReleaseFixture()
        GateNotes.write(release)
        let out = TemporaryFolder()
        _ = try release.build(to: out.url("r.ivp"))
        let bundle = try ReleaseUnderCheck.loadBundle(path: out.url("r.ivp"))
        let spec = try ReleaseUnderCheck.loadSpec(path: release.specPath)
        #expect(bundle.artifactDigest != nil)
        #expect(bundle.artifactDigest == spec.artifactDigest)
        #expect(bundle.testReports.map(\.path) == [GateNotes.reportPath])
        let context = try GateContext(
            policy: .nmpa, channel: GatePolicy.nmpa.channel("market")!, release: bundle, now: Timestamp.now())
        #expect(ReleaseGate.run(context).blockingRuleIDs.isEmpty, "\(ReleaseGate.run(context).text)")
    }
}

/// VER-012: separately versioned modules on real release folders.
@Suite(.clause("VER-012")) struct GateModuleTests {
    static let fixtureModule =
        "{name: detector, component: nodule-detector, version: V2.3.1.1024, format: full-version, naming_rule_ref: QMS-WI-006 C/2, full_version: V2.3.1.1024}"

    @Test func moduleInItsOwnFormatMappedToTheFullVersionPasses() throws {
        let report = try GateRegulatoryTests.gate {
            $0.replacingOccurrences(
                of: Self.fixtureModule,
                with:
                    "{name: detector, component: nodule-detector, version: M7, format: \"M<N>\", naming_rule_ref: QMS-WI-007 A/1, full_version: V2.3.1.1024}"
            )
        }
        #expect(report.findings.isEmpty, "\(report.text)")
    }

    @Test func moduleOutOfFormatOrMappedElsewhereIsRefused() throws {
        let report = try GateRegulatoryTests.gate {
            $0.replacingOccurrences(
                of: Self.fixtureModule,
                with:
                    "{name: detector, component: nodule-detector, version: M07, format: \"M<N>\", naming_rule_ref: QMS-WI-007 A/1, full_version: V2.3.0.1013}"
            )
        }
        #expect(report.ruleIDs == ["VER-012", "VER-012"], "\(report.text)")
        #expect(report.findings[0].message.contains("V2.3.0.1013"))
        #expect(report.findings[1].message.contains("does not follow its declared format M<N>"))
    }

    @Test func undeclaredModelComponentIsRefusedUnderNMPA() throws {
        let report = try GateRegulatoryTests.gate { GateRegulatoryTests.removing("modules", from: $0) }
        #expect(report.ruleIDs == ["VER-012"], "\(report.text)")
        #expect(report.findings[0].hint.contains("component: nodule-detector, version: V2.3.1.1024"))
        let relaxed = try GateRegulatoryTests.gate(policy: GateRegulatoryTests.noRecords) {
            GateRegulatoryTests.removing("modules", from: $0)
        }
        #expect(relaxed.findings.isEmpty, "\(relaxed.text)")
    }

    @Test(arguments: [
        ("M7", "M<N>", true), ("M07", "M<N>", false), ("2.1.0", "<N>.<N>.<N>", true), ("2.1", "<N>.<N>.<N>", false),
        ("V2.3.1.1024", "full-version", true), ("V2.3.1.1023", "full-version", false),
    ])
    func moduleFormats(version: String, format: String, matches: Bool) {
        #expect(ModuleVersionRule.matches(version, format: format, fullVersion: "V2.3.1.1024") == matches)
    }
}

/// The test report format: the example's report and a broken one against Schemas/test-report.schema.json.
@Suite struct TestReportSchemaTests {
    @Test func exampleTestReportValidatesAndABrokenOneFails() throws {
        let example = SchemaTests.repositoryRoot + "/Examples/pulmoscan/verification/TR-2026-311.test-report.json"
        let good = SchemaTests.checkSchemas(["--test-report", example])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        let folder = TemporaryFolder()
        let broken = folder.write(
            "bad.test-report.json",
            GateNotes.testReport(version: "V2.3.1.1024", artifact: "not-a-digest", suites: [("system", 1, -1, 0)]))
        let bad = SchemaTests.checkSchemas(["--test-report", broken])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("artifact_sha256"), "\(bad.stderr)")
    }
}

/// VER-014: full-version literals in the code, in a spec and in the built bundle.
@Suite(.clause("VER-014")) struct GateHardCodedVersionTests {
    @Test func versionReadFromTheVersionModulePasses() throws {
        let release = ReleaseFixture()
        GateNotes.write(release)
        let report = try GateNotes.gate(release)
        #expect(report.findings.isEmpty, "\(report.text)")
    }

    @Test func hardCodedFullVersionInTheCodeIsRefusedInSpecAndBundle() throws {
        let release = ReleaseFixture()
        release.folder.write(
            "service/lib/about.py", "# About screen\nFULL = \"V2.3.1.1024\"\nOLD = 'V2.2.0.861'\nHOST = \"127.0.0.1\"\n"
        )
        GateNotes.write(release)
        let report = try GateNotes.gate(release)
        // The new file is not committed either: build's VER-016 refuses the untracked file too.
        #expect(report.ruleIDs == ["VER-014", "VER-014", "VER-016"], "\(report.text)")
        #expect(report.findings.map(\.line) == [2, 3, nil])
        #expect(report.findings[0].file == release.root + "/service/lib/about.py")
        #expect(report.findings[0].hint.contains("service/VERSION"))
        // build itself refuses another version in the code; the release's own literal it lets through.
        release.folder.write("service/lib/about.py", "# About screen\nFULL = \"V2.3.1.1024\"\n")
        git(["add", "-A"], in: release.root)
        git(["commit", "-q", "-m", "About screen"], in: release.root)
        git(["tag", "-f", "-a", release.version, "-m", "Release \(release.version)"], in: release.root)
        let out = TemporaryFolder()
        _ = try release.build(to: out.url("r.ivp"))
        let bundle = try ReleaseUnderCheck.loadBundle(path: out.url("r.ivp"))
        #expect(
            bundle.versionLiterals == [
                VersionLiteral(path: "service/VERSION", line: 1, text: "V2.3.1.1024"),
                VersionLiteral(path: "service/lib/about.py", line: 2, text: "V2.3.1.1024"),
            ])
        let context = try GateContext(
            policy: .nmpa, channel: GatePolicy.nmpa.channel("market")!, release: bundle, now: Timestamp.now())
        #expect(
            ReleaseGate.run(context).findings.filter { $0.ruleID == "VER-014" }.map(\.file) == ["service/lib/about.py"])
    }

    @Test func withoutADeclaredVersionModuleTheVersionFileIsALiteralToo() throws {
        let report = try GateRegulatoryTests.gate { GateRegulatoryTests.removing("version_module", from: $0) }
        #expect(report.ruleIDs == ["VER-014"], "\(report.text)")
        #expect(report.findings[0].file.hasSuffix("service/VERSION"))
    }

    @Test(arguments: [
        ("v = 'V2.3.1.1024'", ["V2.3.1.1024"]), ("ip 10.0.0.1, V1.2.3", []), ("XV2.3.1.1024", []),
        ("V2.3.1.1024.7", []), ("(V10.2.0.20481)", ["V10.2.0.20481"]),
    ])
    func literalTokens(line: String, expected: [String]) {
        #expect(VersionLiteral.scan(Array(line.utf8), path: "a.py", version: "V9.9.9.9").map(\.text) == expected)
    }
}
