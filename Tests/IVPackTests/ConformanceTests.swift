import Foundation
import IVPackTestSupport
import Testing

/// docs/conformance.md, the traceability matrix from the IQ draft's clauses and the release rules
/// to the tests that prove them, is generated from the tests' `.clause(…)` traits by
/// scripts/conformance.py (`make conformance`). Here its `--check` runs on this repository, and
/// is shown to fail on a copy where a cited clause has no test or the page is stale.
@Suite struct ConformanceTests {
    /// The repository: the nearest folder above this file that holds Package.swift.
    static var repositoryRoot: String {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir.deleteLastPathComponent()
        }
        return dir.path
    }

    /// scripts/conformance.py of the repository at `root`, run on that repository.
    static func conformance(_ root: String, _ arguments: [String] = ["--check"]) -> ProcessResult {
        run("/usr/bin/env", ["python3", root + "/scripts/conformance.py", "--root", root] + arguments, in: root)
    }

    @Test func theMatrixIsCurrentAndEveryClauseTheCodeCitesHasATest() {
        let r = Self.conformance(Self.repositoryRoot)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("docs/conformance.md is current"), "\(r.stdout)")
    }

    /// A repository of its own: this checker and register, a gate catalogue citing REL-015 and
    /// verify's rollback check citing "IQ 5.2.2, 6.3.2 a-c", and one suite of tests whose traits
    /// name `traced`.
    static func copy(traced: [String]) throws -> TemporaryFolder {
        let t = TemporaryFolder("ivpack-conformance")
        let fm = FileManager.default
        for file in ["scripts/conformance.py", "Conformance/clauses.tsv"] {
            try fm.createDirectory(
                atPath: t.url((file as NSString).deletingLastPathComponent), withIntermediateDirectories: true)
            try fm.copyItem(atPath: repositoryRoot + "/" + file, toPath: t.url(file))
        }
        try fm.createDirectory(atPath: t.url("docs"), withIntermediateDirectories: true)
        t.write(
            "Sources/IVPack/Gate/Catalog.swift",
            """
            let rules = [
                .init(id: "REL-015", severity: .block, title: "A tested rollback", clause: "NMPA SW §二（六）"),
            ]
            """)
        t.write(
            "Sources/IVPack/Verify/Checks.swift",
            """
            let checks = [
                .init(id: .installRollback, title: "Rolled back", clause: "IQ 5.2.2, 6.3.2 a-c"),
            ]
            """)
        let ids = traced.map { "\"\($0)\"" }.joined(separator: ", ")
        t.write(
            "Tests/IVPackTests/RollbackTests.swift",
            """
            import Testing

            @Suite struct RollbackTests {
                @Test(.clause(\(ids))) func aFailedHealthCheckRollsBack() {}

                // @Test(.clause("IQ 6.3.2 c")) func commentedOut() {}
                @Test func untraced() {}
            }
            """)
        return t
    }

    @Test func aClauseTheCodeCitesWithoutATestFailsTheCheckNamingIt() throws {
        let t = try Self.copy(traced: ["REL-015", "IQ 5.2.2", "IQ 6.3.2 a", "IQ 6.3.2 b"])
        // Writing the page still reports the gap, and exits 1.
        #expect(Self.conformance(t.path, []).status == 1)
        let r = Self.conformance(t.path)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("IQ 6.3.2 c ("), "\(r.stderr)")
        #expect(r.stderr.contains("is cited by the code (verify) but no test traces to it"), "\(r.stderr)")
        #expect(!r.stderr.contains("IQ 6.3.2 a ("), "\(r.stderr)")
        #expect(!r.stderr.contains("stale"), "\(r.stderr)")
        let page = String(decoding: t.read("docs/conformance.md"), as: UTF8.self)
        #expect(page.contains("`RollbackTests/aFailedHealthCheckRollsBack`"))
        #expect(!page.contains("untraced") && !page.contains("commentedOut"))

        // With a test for it, the same repository passes.
        let fixed = try Self.copy(traced: ["REL-015", "IQ 5.2.2", "IQ 6.3.2 a", "IQ 6.3.2 b", "IQ 6.3.2 c"])
        #expect(Self.conformance(fixed.path, []).status == 0)
        let ok = Self.conformance(fixed.path)
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
    }

    @Test func aStaleMatrixFailsTheCheck() throws {
        let t = try Self.copy(traced: ["REL-015", "IQ 5.2.2", "IQ 6.3.2 a", "IQ 6.3.2 b", "IQ 6.3.2 c"])
        #expect(Self.conformance(t.path, []).status == 0)
        // A test that now proves one more rule: the committed page no longer says so.
        let tests = t.url("Tests/IVPackTests/RollbackTests.swift")
        let source = try String(contentsOfFile: tests, encoding: .utf8)
        t.write(
            "Tests/IVPackTests/RollbackTests.swift",
            source.replacingOccurrences(of: "@Test func untraced", with: "@Test(.clause(\"NOTES-013\")) func untraced"))
        let r = Self.conformance(t.path)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("docs/conformance.md is stale: run `make conformance`"), "\(r.stderr)")
        // A page edited by hand is stale too.
        #expect(Self.conformance(t.path, []).status == 0)
        t.write("docs/conformance.md", String(decoding: t.read("docs/conformance.md"), as: UTF8.self) + "\n")
        #expect(Self.conformance(t.path).stderr.contains("is stale"))
    }

    @Test func aTraitNamingAnIDOutsideTheRegisterFailsTheCheck() throws {
        let t = try Self.copy(traced: ["REL-015", "IQ 5.2.2", "IQ 6.3.2 a", "IQ 6.3.2 b", "IQ 6.3.2 c", "IQ 9.9.9"])
        _ = Self.conformance(t.path, [])
        let r = Self.conformance(t.path)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains(#".clause("IQ 9.9.9") names no entry of Conformance/clauses.tsv"#), "\(r.stderr)")
    }
}
