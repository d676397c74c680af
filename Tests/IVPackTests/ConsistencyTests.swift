import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Each rule of version consistency, failed with a real mismatched file.
@Suite struct ConsistencyTests {
    /// Builds and expects a refusal; checks that no bundle (nor temporary file) was left behind.
    func refusal(_ release: ReleaseFixture) throws -> VersionMismatches {
        let out = TemporaryFolder()
        let error = try #require(throws: VersionMismatches.self) { try release.build(to: out.url("b.ivp")) }
        let left = try FileManager.default.contentsOfDirectory(atPath: out.path)
        #expect(left.isEmpty, "output folder holds \(left)")
        return error
    }

    @Test(.clause("IQ 5.5.1 c", "REL-021")) func missingTagIsNamed() throws {
        let release = ReleaseFixture(tag: false)
        git(["tag", "V2.3.0.1013"], in: release.root)
        let e = try refusal(release)
        let m = try #require(e.mismatches.first { $0.component == "inference-service" })
        #expect(m.location == "git tag \"V2.3.1.1024\"")
        #expect(m.found.contains("no such tag"))
        #expect(m.found.contains("V2.3.0.1013"))
        #expect(e.description.contains("inference-service"))
    }

    @Test(.clause("IQ 5.5.1 c", "REL-021")) func tagOnAnotherCommitIsRefused() throws {
        let release = ReleaseFixture()
        release.folder.write("service/app.py", "print('changed after tagging')\n")
        git(["commit", "-q", "-am", "after the tag"], in: release.root)
        let e = try refusal(release)
        let m = try #require(e.mismatches.first { $0.location.hasPrefix("git tag") })
        #expect(m.found.hasPrefix("the tag on commit "))
        #expect(m.expected.contains("HEAD"))
    }

    @Test(.clause("IQ 5.5.1 c")) func uncommittedChangeInCodeIsRefused() throws {
        let release = ReleaseFixture()
        release.folder.write("service/app.py", "print('edited, not committed')\n")
        let e = try refusal(release)
        let m = try #require(e.mismatches.first { $0.file == "service/app.py" })
        #expect(m.component == "inference-service")
        #expect(m.found == "modified")
        #expect(m.location == "git working tree")
    }

    @Test(.clause("IQ 5.5.1 c")) func untrackedFileInCodeIsRefused() throws {
        let release = ReleaseFixture()
        release.folder.write("service/debug.py", "print('scratch')\n")
        let e = try refusal(release)
        #expect(e.mismatches.contains { $0.file == "service/debug.py" && $0.found == "untracked" })
    }

    @Test func changesOutsideTheCodeComponentDoNotCount() throws {
        let release = ReleaseFixture()
        release.folder.write("notes-to-self.txt", "not part of any component\n")
        let out = TemporaryFolder()
        _ = try release.build(to: out.url("b.ivp"))
        #expect(out.exists("b.ivp"))
    }

    @Test(.clause("IQ 5.5.1 a", "IQ 5.5.1 c")) func modelHeaderWithAnotherVersionIsNamed() throws {
        let release = ReleaseFixture()
        release.writeModel(version: "V2.3.0.1013")
        let e = try refusal(release)
        let m = try #require(e.mismatches.first)
        #expect(e.mismatches.count == 1)
        #expect(m.component == "nodule-detector")
        #expect(m.file == "models/detector.safetensors")
        #expect(m.expected == "V2.3.1.1024")
        #expect(m.found == "\"V2.3.0.1013\"")
        #expect(m.location.contains("__metadata__"))
    }

    @Test(.clause("IQ 5.5.1 c")) func modelWithoutVersionNeedsAModelCard() throws {
        let release = ReleaseFixture()
        release.writeModel(version: nil)
        let e = try refusal(release)
        #expect(e.mismatches.first?.found == "nothing")
        #expect(e.mismatches.first?.hint.contains("modelCard") == true)
        // With a model card that states the version, the same model is accepted.
        release.folder.write("models/MODEL_CARD.md", "---\nversion: \(release.version)\n---\n# Detector\n")
        release.folder.write(
            "ivpack.yaml",
            String(decoding: release.folder.read("ivpack.yaml"), as: UTF8.self).replacingOccurrences(
                of: "paths: [models/detector.safetensors]",
                with:
                    "paths: [models/detector.safetensors, models/MODEL_CARD.md]\n    version: {modelCard: models/MODEL_CARD.md}"
            ))
        let out = TemporaryFolder()
        let result = try release.build(to: out.url("b.ivp"))
        #expect(
            result.manifest.components.first { $0.name == "nodule-detector" }?.versionEvidence.map(\.source) == [
                "model-card"
            ])
    }

    @Test(.clause("IQ 5.5.1 b")) func manualWithAnotherVersionIsNamed() throws {
        let release = ReleaseFixture()
        release.folder.write("docs/manual.md", "---\nversion: V2.2.0.900\n---\n# Installation manual V2.2.0.900\n")
        let e = try refusal(release)
        #expect(
            e.mismatches.allSatisfy {
                $0.component == "manuals" && $0.file == "docs/manual.md" && $0.found == "\"V2.2.0.900\""
            })
        #expect(e.mismatches.contains { $0.location.contains("front matter") })
        #expect(e.mismatches.contains { $0.location.contains("title") })
    }

    @Test(.clause("IQ 5.5.1 b")) func pdfManualWithAnotherVersionIsNamed() throws {
        let release = ReleaseFixture()
        release.folder.write(
            "docs/guide.pdf", FormatFixtures.pdf(info: ["Title": "User guide", "Version": "V2.3.0.1013"]))
        let e = try refusal(release)
        let m = try #require(e.mismatches.first)
        #expect(m.file == "docs/guide.pdf")
        #expect(m.found == "\"V2.3.0.1013\"")
        #expect(m.location.contains("Version"))
    }

    @Test(.clause("IQ 5.5.1 a")) func sbomWithAnotherVersionIsNamed() throws {
        let release = ReleaseFixture()
        release.folder.write("sbom/bom.cdx.json", FormatFixtures.cycloneDX(version: "V2.3.0.1013"))
        let e = try refusal(release)
        let m = try #require(e.mismatches.first)
        #expect(m.component == "sbom")
        #expect(m.file == "sbom/bom.cdx.json")
        #expect(m.location.contains("metadata.component.version"))
        #expect(m.found == "\"V2.3.0.1013\"")
    }

    @Test(.clause("IQ 5.5.1 a")) func unpinnedRequirementIsNamedWithItsLine() throws {
        let release = ReleaseFixture()
        release.folder.write("deps/requirements.txt", "numpy==1.26.4\n# the web layer\nfastapi>=0.110\n")
        let e = try refusal(release)
        let m = try #require(e.mismatches.first)
        #expect(m.file == "deps/requirements.txt")
        #expect(m.location == "line 3")
        #expect(m.found.contains("fastapi>=0.110"))
        #expect(m.found.contains(">="))
    }

    @Test(.clause("IQ 5.5.1 b")) func releaseNotesForAnotherVersionAreRefused() throws {
        let release = ReleaseFixture()
        release.folder.write("release-notes.md", "# PulmoScan AI V2.3.0.1013 release notes\n")
        let e = try refusal(release)
        #expect(e.mismatches.contains { $0.component == "release-notes" && $0.file == "release-notes.md" })
    }

    @Test(.clause("IQ 5.5.1 a")) func allMismatchesAreReportedTogether() throws {
        let release = ReleaseFixture()
        release.writeModel(version: "V1.0.0.1")
        release.folder.write("sbom/bom.cdx.json", FormatFixtures.cycloneDX(version: "V1.0.0.1"))
        release.folder.write("service/app.py", "dirty\n")
        let e = try refusal(release)
        #expect(Set(e.mismatches.map(\.component)) == ["nodule-detector", "sbom", "inference-service"])
    }

    @Test(.clause("IQ 5.5.1 a")) func cliExitsOneAndNamesEveryMismatch() throws {
        let release = ReleaseFixture()
        release.writeModel(version: "V2.3.0.1013")
        let out = TemporaryFolder()
        let r = ivpack(["build", "--spec", release.specPath, "--output", out.url("b.ivp")])
        #expect(r.status == 1)
        #expect(r.stderr.contains("nodule-detector"))
        #expect(r.stderr.contains("models/detector.safetensors"))
        #expect(r.stderr.contains("expected V2.3.1.1024, found \"V2.3.0.1013\""))
        #expect(r.stdout.isEmpty)
        #expect(!out.exists("b.ivp"))
    }
}
