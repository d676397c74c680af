import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Issue 19's first day: `ivpack init`, `ivpack notes template`, hints with real values, the
/// change-type vocabulary in the docs, and `check SPEC` / `build --json` with build's version rules.
@Suite struct InitTests {
    /// What a user must fill in the semver skeleton, line prefix by line prefix: the README's list.
    /// Everything else `init` writes is either known to ivpack or needs no change.
    static let semverFills: [(file: String, prefix: String, line: String)] = [
        ("ivpack.yaml", "  vendor: TODO", "  vendor: Example Medical AI Co."),
        ("ivpack.yaml", "  model: TODO", "  model: LT-1"),
        ("notes", "release_date: TODO", "release_date: \"2026-12-02\""),
        ("notes", "update_level: TODO", "update_level: patch"),
        ("notes", "TODO: the update classification", "Patch release: one corrective fix (highest: corrective)."),
        ("notes", "| TODO | TODO | TODO | TODO |", "| CR-1 | Fixed | `corrective` | Reject empty studies |"),
        ("notes", "已知缺陷总数 Known total: TODO", "已知缺陷总数 Known total: 0; 剩余缺陷数 Remaining: 0"),
        ("notes", "TODO: the vulnerabilities assessed", "No known vulnerabilities; no security patch."),
        ("notes", "TODO: the exact versions validated", "Debian 12.8, Python 3.11.2."),
    ]

    /// Replaces each line of `text` that starts with a prefix of `fills` by its new line; every
    /// prefix must match exactly one line.
    static func fill(_ text: String, _ fills: [(prefix: String, line: String)]) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for fill in fills {
            let hits = lines.indices.filter { lines[$0].hasPrefix(fill.prefix) }
            #expect(hits.count == 1, "\(fill.prefix): \(hits.count) lines")
            for i in hits { lines[i] = fill.line }
        }
        return lines.joined(separator: "\n")
    }

    static func findings(_ stdout: String) throws -> [JSONValue] {
        try JSONParser.parse(Array(stdout.utf8))["findings"]?.arrayValue ?? []
    }

    static func sha256sum(_ path: String) -> String {
        String(run("/usr/bin/sha256sum", [path]).stdout.prefix(64))
    }

    // MARK: - The acceptance test

    @Test(.clause("NOTES-018", "SPEC-001")) func initFilledByHandChecksBuildsSignsAndVerifies() throws {
        let repo = TemporaryFolder("ivpack-init")
        git(["init", "-q", "-b", "main"], in: repo.path)
        let initRun = ivpack(["init", repo.path, "--policy", "semver", "--product", "Lung Triage"])
        #expect(initRun.status == 0, "\(initRun.stderr)")
        #expect(initRun.stdout.contains("Next steps"))
        // It names the fields to fill, as the README lists them.
        #expect(
            initRun.stdout.contains("ivpack.yaml: 2 lines\n    product.vendor, product.model\n"), "\(initRun.stdout)")
        #expect(initRun.stdout.contains("release-notes/1.0.0.md: 7 lines\n    release_date, update_level\n"))
        let notesPath = "release-notes/1.0.0.md"
        for file in ["ivpack.yaml", notesPath, "sbom/lung-triage.cdx.json", "service/VERSION", ".gitignore"] {
            #expect(repo.exists(file), "\(file) not written")
        }
        #expect(String(decoding: repo.read(".gitignore"), as: UTF8.self).contains("*.key"))

        // Unfilled: check fails, and names every placeholder line of the notes and of the spec.
        let spec = repo.url("ivpack.yaml")
        let unfilled = ivpack(["check", spec, "--policy", "semver", "--format", "json"])
        #expect(unfilled.status == 1, "\(unfilled.stderr)")
        let found = try Self.findings(unfilled.stdout)
        let notes = String(decoding: repo.read(notesPath), as: UTF8.self)
        let todoLines = notes.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .filter { $0.element.contains("TODO") }.map { $0.offset + 1 }
        #expect(todoLines.count >= 7)
        let placeholderLines = Set(
            found.filter { $0["ruleId"] == .string("NOTES-018") }.compactMap { f -> Int? in
                if case .number(let n)? = f["line"] { return Int(n) }
                return nil
            })
        #expect(placeholderLines == Set(todoLines), "NOTES-018 lines \(placeholderLines.sorted()) vs \(todoLines)")
        let specPlaceholders = found.filter { $0["ruleId"] == .string("SPEC-001") }.compactMap {
            $0["message"]?.stringValue
        }
        #expect(specPlaceholders.count == 2)
        #expect(specPlaceholders.contains { $0.contains("product.vendor") })
        #expect(specPlaceholders.contains { $0.contains("product.model") })

        // Fill only what the user must, add a small payload, commit and tag.
        repo.write(
            "ivpack.yaml",
            Self.fill(
                String(decoding: repo.read("ivpack.yaml"), as: UTF8.self),
                Self.semverFills.filter { $0.file == "ivpack.yaml" }.map { ($0.prefix, $0.line) }))
        repo.write(
            notesPath, Self.fill(notes, Self.semverFills.filter { $0.file == "notes" }.map { ($0.prefix, $0.line) }))
        repo.write("service/app.py", "VERSION = open('VERSION').read().strip()\nprint('Lung Triage', VERSION)\n")
        git(["add", "-A"], in: repo.path)
        git(["commit", "-q", "-m", "Release 1.0.0"], in: repo.path)
        git(["tag", "-a", "1.0.0", "-m", "Release 1.0.0"], in: repo.path)

        let filled = ivpack(["check", spec, "--policy", "semver"])
        #expect(filled.status == 0, "\(filled.stdout)\(filled.stderr)")

        let out = TemporaryFolder("ivpack-init-out")
        let bundle = out.url("lung-triage-1.0.0.ivp")
        let built = ivpack(["build", "--spec", spec, "--output", bundle])
        #expect(built.status == 0, "\(built.stdout)\(built.stderr)")

        let pki = try DevelopmentPKI.create(in: out.url("pki"), now: Timestamp.now() - 3600)
        for role in GatePolicy.semver.requiredRoles {
            let signer = role == "quality" ? pki.quality : pki.releaseManager
            #expect(signer.role == role)
            let signed = ivpack([
                "sign", bundle, "--role", role, "--key", signer.key, "--cert", signer.certificate, "--chain",
                pki.intermediateCertificate,
            ])
            #expect(signed.status == 0, "\(signed.stderr)")
        }
        let verified = ivpack(["verify", bundle, "--trust", pki.trustPolicy])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("Result: PASS"))
        let gate = ivpack(["check", bundle, "--policy", "semver", "--trust", pki.trustPolicy])
        #expect(gate.status == 0, "\(gate.stdout)\(gate.stderr)")
    }

    /// What a user fills in the nmpa notes (from `notes template --previous none` once the model
    /// is in the spec), for a first release with one corrective change: the README's nmpa list.
    static func nmpaNotesFills(testSet: String) -> [(prefix: String, line: String)] {
        [
            ("release_date: TODO", "release_date: \"2026-12-02\""),
            ("safety_level: TODO", "safety_level: 中等 (B)"),
            ("udi_di: TODO", "udi_di: \"09520000000028\""),
            ("naming_rule_doc_id: TODO", "naming_rule_doc_id: QMS-WI-006"),
            ("naming_rule_doc_version: TODO", "naming_rule_doc_version: C/2"),
            ("update_level: TODO", "update_level: Z"),
            ("    naming_rule_ref: TODO", "    naming_rule_ref: QMS-WI-006 C/2"),
            ("  compatibility: TODO", "  compatibility: 无 / none (first release)"),
            ("  data_migration: TODO", "  data_migration: 无 / none"),
            ("  legacy_users: TODO", "  legacy_users: 无 / none"),
            ("    change_registration_required: TODO", "    change_registration_required: false"),
            ("    decision_record: TODO", "    decision_record: RA-2026-101"),
            ("  update_driver: TODO", "  update_driver: 无 none"),
            ("  test_set: {id: TODO", "  test_set: {id: PS-CT-TEST-SEQ-02, sha256: \(testSet)}"),
            ("  baseline: {version: TODO", "  baseline: {version: V1.0.0.1, test_set_sha256: \(testSet)}"),
            ("    - {name: TODO", "    - {name: sensitivity, value: 0.92}"),
            (
                "  statistical_test: {name: TODO",
                "  statistical_test: {name: McNemar, alpha: 0.05, p: 1.0, conclusion: not significant}"
            ),
            ("| PulmoScan AI | PS-AI |", "| PulmoScan AI | PS-AI | V1.0.0.1 | 无 / none | 2026-12-02 |"),
            ("TODO: the update classification", "轻微更新 Z / patch: one corrective fix."),
            ("TODO: Regulatory Impact", "CN: no change registration needed (RA-2026-101)."),
            ("| TODO | TODO | TODO | TODO |", "| CR-1 | Fixed | `corrective` | Reject empty series |"),
            ("TODO: the model, its update", "nodule-detector V1.0.0.1, first release; update driver 无 / none."),
            ("TODO: the tests run", "System and regression tests: TR-1 (verification/TR-1.test-report.json)."),
            ("已知缺陷总数 Known total: TODO", "已知缺陷总数 Known total: 0; 剩余缺陷数 Remaining: 0"),
            ("TODO: the vulnerabilities assessed", "No known vulnerabilities."),
            ("TODO: the exact versions validated", "Debian 12.8, Python 3.11.2."),
            ("TODO: installation, upgrade", "First installation with ivpack install; nothing to migrate."),
            ("TODO: User Communication", "无 / None"),
            ("TODO: Update History", "V1.0.0.1: first release."),
            ("TODO: who approves", "Release manager and quality sign the bundle."),
            ("TODO: References", "QMS-WI-006 C/2."),
        ]
    }

    @Test func initUnderNMPAFilledByHandChecksBuildsSignsAndVerifies() throws {
        let repo = TemporaryFolder("ivpack-init-nmpa-full")
        git(["init", "-q", "-b", "main"], in: repo.path)
        #expect(ivpack(["init", repo.path, "--product", "PulmoScan AI"]).status == 0)
        let spec = repo.url("ivpack.yaml")
        // The spec: the product fields, the model that arrived, and the test reports' component.
        var specText = String(decoding: repo.read("ivpack.yaml"), as: UTF8.self)
        for (old, new) in [
            ("  vendor: TODO", "  vendor: Example Medical AI Co.  #"), ("  model: TODO", "  model: PS-AI  #"),
            (
                "  # Add the model weights",
                "  - name: nodule-detector\n    kind: model\n    paths: [models/detector.safetensors]\n  #"
            ),
            ("  # - name: test-reports", "  - name: test-reports"), ("  #   kind: file", "    kind: file"),
            ("  #   paths: [verification]", "    paths: [verification]"),
        ] {
            #expect(specText.contains(old), "\(old)")
            specText = specText.replacingOccurrences(of: old, with: new)
        }
        repo.write("ivpack.yaml", specText)
        repo.write(
            "models/detector.safetensors",
            FormatFixtures.safetensors(metadata: ["version": "V1.0.0.1"], tensorBytes: 4096))
        repo.write("service/app.py", "VERSION = open('VERSION').read().strip()\n")
        // The notes again, from the template, now that the release has its model.
        let notesPath = "release-notes/V1.0.0.1.md"
        try FileManager.default.removeItem(atPath: repo.url(notesPath))
        let template = ivpack([
            "notes", "template", "--spec", spec, "--previous", "none", "--output", repo.url(notesPath),
        ])
        #expect(template.status == 0, "\(template.stderr)")
        var notes = String(decoding: repo.read(notesPath), as: UTF8.self)
        #expect(notes.contains("sha256: \(Self.sha256sum(repo.url("models/detector.safetensors")))"))
        notes = notes.replacingOccurrences(of: "TODO: a change table as above, or 无 / None", with: "无 / None")
        let testSet = String(repeating: "3b", count: 32)
        repo.write(notesPath, Self.fill(notes, Self.nmpaNotesFills(testSet: testSet)))
        // The test system's report, bound to this artifact.
        let artifact = try #require(try ReleaseUnderCheck.loadSpec(path: spec).artifactDigest).hex
        repo.write(
            "verification/TR-1.test-report.json",
            """
            {"format": "ivpack-test-report/1", "id": "TR-1", "full_version": "V1.0.0.1",
             "artifact_sha256": "\(artifact)",
             "suites": [{"name": "system", "passed": 12, "failed": 0, "not_run": 0},
                        {"name": "regression", "passed": 7, "failed": 0, "not_run": 0}]}

            """)
        git(["add", "-A"], in: repo.path)
        git(["commit", "-q", "-m", "Release V1.0.0.1"], in: repo.path)
        git(["tag", "-a", "V1.0.0.1", "-m", "Release V1.0.0.1"], in: repo.path)

        let checked = ivpack(["check", spec])
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        let out = TemporaryFolder("ivpack-init-nmpa-out")
        let bundle = out.url("pulmoscan-V1.0.0.1.ivp")
        let built = ivpack(["build", "--spec", spec, "--output", bundle])
        #expect(built.status == 0, "\(built.stdout)\(built.stderr)")
        let pki = try DevelopmentPKI.create(in: out.url("pki"), now: Timestamp.now() - 3600)
        for role in GatePolicy.nmpa.requiredRoles {
            let signer = role == "quality" ? pki.quality : pki.releaseManager
            let signed = ivpack([
                "sign", bundle, "--role", role, "--key", signer.key, "--cert", signer.certificate, "--chain",
                pki.intermediateCertificate,
            ])
            #expect(signed.status == 0, "\(signed.stderr)")
        }
        let verified = ivpack(["verify", bundle, "--trust", pki.trustPolicy])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let gate = ivpack(["check", bundle, "--trust", pki.trustPolicy])
        #expect(gate.status == 0, "\(gate.stdout)\(gate.stderr)")
    }

    @Test func readmeListsTheFieldsTheSemverSkeletonLeavesToFill() throws {
        let readme = String(
            decoding: FileManager.default.contents(atPath: SchemaTests.repositoryRoot + "/README.md")!, as: UTF8.self)
        let start = try #require(readme.range(of: "### `ivpack init`"))
        let end = try #require(readme.range(of: "### `ivpack notes template`"))
        let section = String(readme[start.upperBound..<end.lowerBound])
        let fields = ReleaseScaffold.placeholders(try ReleaseScaffold.plan(product: "Lung Triage", policy: .semver))
            .compactMap(\.field)
        #expect(Set(fields) == ["product.vendor", "product.model", "release_date", "update_level"])
        for field in fields {
            let leaf = field.split(separator: ".").map(String.init)
            #expect(section.contains("`\(field)`") || section.contains("`\(leaf.joined(separator: "."))`"), "\(field)")
        }
        // And the acceptance test fills exactly those, plus the notes' section lines.
        #expect(
            Self.semverFills.filter { $0.prefix.hasSuffix(": TODO") && $0.prefix.allSatisfy(\.isASCII) }.count
                == fields.count)
    }

    @Test func initSkeletonFailsTheNMPAGateOnEveryPlaceholder() throws {
        let repo = TemporaryFolder("ivpack-init-nmpa")
        git(["init", "-q", "-b", "main"], in: repo.path)
        try ReleaseScaffold.write(
            try ReleaseScaffold.plan(product: "PulmoScan AI", policy: .nmpa), into: repo.path, force: false)
        let release = try ReleaseUnderCheck.loadSpec(path: repo.url("ivpack.yaml"))
        let report = ReleaseGate.run(
            try GateContext(
                policy: .nmpa, channel: GatePolicy.nmpa.channel("market")!, release: release, now: Timestamp.now()))
        #expect(!report.passed)
        let notes = String(decoding: repo.read("release-notes/V1.0.0.1.md"), as: UTF8.self)
        let todoLines = Set(
            notes.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                .filter { $0.element.contains("TODO") }.map { $0.offset + 1 })
        let named = Set(report.findings.filter { $0.ruleID == "NOTES-018" }.compactMap(\.line))
        #expect(named == todoLines)
        // What ivpack knows is filled in, not left to the user: the SBOM digest it wrote.
        let sbom = Self.sha256sum(repo.url("sbom/pulmoscan-ai.cdx.json"))
        #expect(notes.contains("sbom_sha256: \(sbom)"))
        #expect(notes.contains("release_version: V1"))
        #expect(!report.ruleIDs.contains("NOTES-009"))
        // Every section the policy requires is there.
        #expect(!report.ruleIDs.contains("NOTES-003"), "\(report.findings.filter { $0.ruleID == "NOTES-003" })")
    }

    @Test func initRefusesToOverwriteAndWritesNothing() throws {
        let repo = TemporaryFolder("ivpack-init-again")
        #expect(ivpack(["init", repo.path, "--product", "PulmoScan AI"]).status == 0)
        repo.write("ivpack.yaml", "# mine\n")
        try FileManager.default.removeItem(atPath: repo.url(".gitignore"))
        let again = ivpack(["init", repo.path, "--product", "PulmoScan AI"])
        #expect(again.status == 2)
        #expect(again.stderr.contains("ivpack.yaml"), "\(again.stderr)")
        #expect(again.stderr.contains("--force"))
        #expect(String(decoding: repo.read("ivpack.yaml"), as: UTF8.self) == "# mine\n")
        #expect(!repo.exists(".gitignore"), "a file was written although init refused")
        let forced = ivpack(["init", repo.path, "--product", "PulmoScan AI", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(repo.exists(".gitignore"))
        #expect(String(decoding: repo.read("ivpack.yaml"), as: UTF8.self).contains("apiVersion: ivpack.dev/v1"))
    }

    // MARK: - notes template

    @Test func notesTemplatePrintsWhatTheReleaseKnows() throws {
        let release = ReleaseFixture()
        let r = ivpack(["notes", "template", "--spec", release.specPath, "--previous", "V2.3.0.1013"])
        #expect(r.status == 0, "\(r.stderr)")
        let sbom = Self.sha256sum(release.folder.url("sbom/bom.cdx.json"))
        let model = Self.sha256sum(release.folder.url("models/detector.safetensors"))
        for expected in [
            "sbom_sha256: \(sbom)", "sbom_file: sbom/bom.cdx.json", "sha256: \(model)",
            "file: models/detector.safetensors", "version: V2.3.1.1024", "release_version: V2",
            "semver: 2.3.1+1024", "model_spec: PS-AI", "previous_released_version: V2.3.0.1013",
            "target: V2.3.0.1013", "# PulmoScan AI V2.3.1.1024 发布说明 / Release Notes",
        ] {
            #expect(r.stdout.contains(expected), "lacks \(expected)")
        }
        #expect(r.stdout.contains("release_date: TODO"))

        // --version and --output; an existing file is refused.
        let out = release.folder.url("release-notes/V2.4.0.1101.md")
        let written = ivpack([
            "notes", "template", "--spec", release.specPath, "--version", "V2.4.0.1101", "--output", out,
        ])
        #expect(written.status == 0, "\(written.stderr)")
        let text = String(decoding: release.folder.read("release-notes/V2.4.0.1101.md"), as: UTF8.self)
        #expect(text.contains("version: V2.4.0.1101"))
        let before = release.folder.read("release-notes/V2.4.0.1101.md")
        let refused = ivpack(["notes", "template", "--spec", release.specPath, "--output", out])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains(out))
        #expect(release.folder.read("release-notes/V2.4.0.1101.md") == before)
    }

    @Test func notesTemplateTakesThePreviousVersionFromTheReleaseTags() throws {
        let release = ReleaseFixture()
        // Tags of other releases: the highest below V2.3.1.1024 is the previous one; a later
        // version, a non-canonical one and another tag pattern do not count.
        for tag in ["V2.2.0.900", "V2.3.0.1013", "V2.4.0.1101", "V2.3.0.01", "pulmoscan-V2.3.0.1020"] {
            git(["tag", tag], in: release.root)
        }
        let r = ivpack(["notes", "template", "--spec", release.specPath])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("previous_released_version: V2.3.0.1013\n"), "\(r.stdout.prefix(400))")
        #expect(r.stdout.contains("  target: V2.3.0.1013\n"))
        // Without such tags ivpack cannot know it: the template asks.
        let first = ReleaseFixture()
        let asked = ivpack(["notes", "template", "--spec", first.specPath])
        #expect(asked.stdout.contains("previous_released_version: TODO"))
    }

    // MARK: - Hints with real values

    /// The fixture's release with notes whose front matter lacks the keys the hints are about.
    static func gate(_ release: ReleaseFixture, notes: String) throws -> GateReport {
        release.folder.write("release-notes.md", notes)
        let checked = try ReleaseUnderCheck.loadSpec(path: release.specPath)
        return ReleaseGate.run(
            try GateContext(
                policy: .nmpa, channel: GatePolicy.nmpa.channel("market")!, release: checked, now: Timestamp.now()))
    }

    @Test func missingFrontMatterHintsGiveTheValuesIVPackKnows() throws {
        let release = ReleaseFixture()
        let report = try Self.gate(
            release, notes: "---\nversion: \(release.version)\n---\n# PulmoScan AI \(release.version) release notes\n")
        let sbom = Self.sha256sum(release.folder.url("sbom/bom.cdx.json"))
        let model = Self.sha256sum(release.folder.url("models/detector.safetensors"))
        func hint(_ rule: String, _ message: String) -> String? {
            report.findings.first { $0.ruleID == rule && $0.message.contains(message) }?.hint
        }
        #expect(hint("NOTES-002", "sbom_sha256 is missing") == "Add sbom_sha256: \(sbom) to the front matter")
        #expect(hint("NOTES-002", "sbom_file is missing") == "Add sbom_file: sbom/bom.cdx.json to the front matter")
        #expect(hint("NOTES-002", "model_spec is missing") == "Add model_spec: PS-AI to the front matter")
        #expect(hint("NOTES-002", "release_version is missing") == "Add release_version: V2 to the front matter")
        #expect(hint("NOTES-002", "udi_pi is missing") == "Add udi_pi: \(release.version) to the front matter")
        // Not known to ivpack: the hint says what to write, and no bare <value>.
        let date = try #require(hint("NOTES-002", "release_date is missing"))
        #expect(date.contains("YYYY-MM-DD") && !date.contains("<value>"))
        // NOTES-009: the SBOM's digest, computed.
        let sbomHint = try #require(hint("NOTES-009", "do not name the SBOM"))
        #expect(sbomHint.contains("sbom_sha256: \(sbom)"), "\(sbomHint)")
        // NOTES-008: the model's file, digest and version.
        let aiHint = try #require(hint("NOTES-008", "no ai record"))
        #expect(aiHint.contains("sha256: \(model)"), "\(aiHint)")
        #expect(aiHint.contains("file: models/detector.safetensors"))
        #expect(aiHint.contains("version: \(release.version)"))
        #expect(!aiHint.contains("<version>"))
    }

    @Test func aiModelWithoutDigestHintGivesTheWeightsDigest() throws {
        let release = ReleaseFixture()
        let report = try Self.gate(
            release,
            notes:
                "---\nversion: \(release.version)\nai:\n  update_driver: 无 none\n---\n# PulmoScan AI \(release.version)\n"
        )
        let model = Self.sha256sum(release.folder.url("models/detector.safetensors"))
        let hint = try #require(
            report.findings.first { $0.ruleID == "NOTES-008" && $0.message == "ai.model is missing" }?.hint)
        #expect(hint.contains("sha256: \(model)"), "\(hint)")
        #expect(hint.contains("id: nodule-detector"))
    }

    @Test func moduleAndBaselineHintsUseWhatTheNotesState() throws {
        let release = ReleaseFixture()
        let testSet = String(repeating: "5c", count: 32)
        let report = try Self.gate(
            release,
            notes: """
                ---
                version: \(release.version)
                naming_rule_doc_id: QMS-WI-009
                naming_rule_doc_version: B/4
                ai:
                  test_set: {id: TS-1, sha256: \(testSet)}
                ---
                # PulmoScan AI \(release.version)

                """)
        let module = try #require(report.findings.first { $0.ruleID == "VER-012" }?.hint)
        #expect(module.contains("naming_rule_ref: QMS-WI-009 B/4"), "\(module)")
        #expect(module.contains("component: nodule-detector"))
        let baseline = try #require(
            report.findings.first { $0.ruleID == "NOTES-008" && $0.message == "ai.baseline.version is missing" }?.hint)
        #expect(baseline.contains("test_set_sha256: \(testSet)"), "\(baseline)")
    }

    // MARK: - The change-type vocabulary in the docs

    @Test func changeTypesSectionOfTheDocsIsTheCodesVocabulary() throws {
        let docs = String(
            decoding: FileManager.default.contents(atPath: SchemaTests.repositoryRoot + "/docs/release-gate.md")!,
            as: UTF8.self)
        let lines = docs.split(separator: "\n").map(String.init)
        let start = try #require(lines.firstIndex(of: "## Change types"))
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("## ") } ?? lines.count
        var documented: [String: (String, String)] = [:]
        for line in lines[(start + 1)..<end] where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            documented[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = (cells[1], cells[2])
        }
        let code = GatePolicy.nmpaChangeTypes
        #expect(Set(documented.keys) == Set(code.map(\.name)))
        for type in code {
            #expect(documented[type.name]?.0 == type.level.letter, "\(type.name): nmpa field")
            #expect(
                documented[type.name]?.1 == GatePolicy.semver.level(of: type.name)?.name, "\(type.name): semver step")
        }
    }

    // MARK: - check SPEC runs build's version rules; build --json prints them

    @Test(.clause("VER-018", "IQ 5.5.1 b")) func checkSpecReportsAManualVersionMismatchAsBuildDoes() throws {
        let release = ReleaseFixture()
        // A consistent release: none of build's rules fires.
        let clean = ivpack(["check", release.specPath, "--format", "json"])
        let cleanIDs = try Self.findings(clean.stdout).compactMap { $0["ruleId"]?.stringValue }
        #expect(!cleanIDs.contains { ["VER-016", "VER-017", "VER-018", "VER-019"].contains($0) }, "\(cleanIDs)")

        release.folder.write(
            "docs/manual.md", "---\ntitle: Installation manual\nversion: V2.3.0.1013\n---\n# Installation manual\n")
        let r = ivpack(["check", release.specPath, "--format", "json"])
        #expect(r.status == 1)
        let mismatch = try Self.findings(r.stdout).filter { $0["ruleId"] == .string("VER-018") }
        #expect(mismatch.count == 1, "\(r.stdout)")
        #expect(mismatch.first?["file"]?.stringValue == release.folder.url("docs/manual.md"))
        #expect(mismatch.first?["message"]?.stringValue?.contains("V2.3.0.1013") == true)
        #expect(mismatch.first?["clause"]?.stringValue?.isEmpty == false)
        let text = ivpack(["check", release.specPath])
        #expect(text.stdout.contains("VER-018"))
        let sarif = ivpack(["check", release.specPath, "--format", "sarif"])
        #expect(sarif.stdout.contains("\"ruleId\": \"VER-018\"") || sarif.stdout.contains("\"ruleId\":\"VER-018\""))

        // build refuses the same release, and with --json says why on standard output.
        let out = TemporaryFolder("ivpack-init-build")
        let built = ivpack(["build", "--spec", release.specPath, "--output", out.url("r.ivp"), "--json"])
        #expect(built.status == 1)
        let buildFindings = try Self.findings(built.stdout)
        #expect(buildFindings.map { $0["ruleId"]?.stringValue } == ["VER-018"], "\(built.stdout)")
        #expect(buildFindings.first?["file"]?.stringValue == release.folder.url("docs/manual.md"))
        #expect(!out.exists("r.ivp"))
    }

    @Test(.clause("VER-017", "VER-019")) func checkSpecReportsModelAndSBOMVersionMismatches() throws {
        let release = ReleaseFixture()
        release.writeModel(version: "V2.3.0.1013")
        release.folder.write("sbom/bom.cdx.json", FormatFixtures.cycloneDX(version: "V2.3.0.1013"))
        let checked = try ReleaseUnderCheck.loadSpec(path: release.specPath)
        let report = ReleaseGate.run(
            try GateContext(
                policy: .nmpa, channel: GatePolicy.nmpa.channel("market")!, release: checked, now: Timestamp.now()))
        let build = report.findings.filter { ["VER-016", "VER-017", "VER-018", "VER-019"].contains($0.ruleID) }
        #expect(build.map(\.ruleID) == ["VER-017", "VER-019"], "\(report.text)")
        #expect(
            build.map(\.file) == [
                release.folder.url("models/detector.safetensors"), release.folder.url("sbom/bom.cdx.json"),
            ])
        #expect(build.allSatisfy { $0.message.contains("V2.3.0.1013") })
    }

    @Test(.clause("VER-016", "IQ 5.5.1 c")) func checkSpecReportsAnUntaggedCommitAsVER016() throws {
        let release = ReleaseFixture(tag: false)
        let checked = try ReleaseUnderCheck.loadSpec(path: release.specPath)
        #expect(checked.consistency.map(\.mismatch.component) == ["inference-service"])
        let report = ReleaseGate.run(
            try GateContext(
                policy: .nmpa, channel: GatePolicy.nmpa.channel("market")!, release: checked, now: Timestamp.now()))
        let finding = try #require(report.findings.first { $0.ruleID == "VER-016" })
        #expect(finding.message.contains("git tag \"\(release.version)\""), "\(finding.message)")
    }
}
