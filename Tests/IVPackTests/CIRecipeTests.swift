import Foundation
import IVPackTestSupport
import Testing

/// The CI recipes of docs/release-gate.md run as written (scripts/run-ci-recipe.sh): in a
/// checkout made the way the CI server makes it, they build the same bundle as a full clone with
/// the annotated tag, and write valid SARIF, Code Quality and JUnit reports naming repository
/// paths. Without the tag re-fetch they fail.
@Suite struct CIRecipeTests {
    static let document = SchemaTests.repositoryRoot + "/docs/release-gate.md"
    static let refetch = "git fetch --force origin \"+refs/tags/$TAG:refs/tags/$TAG\""

    static func runRecipe(_ flavour: String, document: String = CIRecipeTests.document, fetchDepth: Int = 1)
        -> ProcessResult
    {
        run(
            "/bin/bash",
            [
                SchemaTests.repositoryRoot + "/scripts/run-ci-recipe.sh", "--doc", document, "--fetch-depth",
                String(fetchDepth), flavour,
            ],
            in: SchemaTests.repositoryRoot, environment: ["IVPACK": ivpackExecutable])
    }

    /// The document with every line for which `drop` holds removed; `removed` lines must go.
    static func documentWithout(_ folder: TemporaryFolder, removed: Int, _ drop: (String) -> Bool) throws -> String {
        let text = try String(contentsOfFile: document, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let kept = lines.filter { !drop($0) }
        #expect(lines.count - kept.count == removed, "the recipes changed: update this test")
        return folder.write("release-gate.md", kept.joined(separator: "\n"))
    }

    /// Shallow (fetch-depth 1) and full (fetch-depth 0) checkouts, both with a lightweight tag.
    @Test(arguments: ["github", "gitlab"], [1, 0])
    func recipeRunsAsWrittenAndBuildsTheReleaseManagersBundle(flavour: String, fetchDepth: Int) {
        let r = Self.runRecipe(flavour, fetchDepth: fetchDepth)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("ok   \(flavour): exit 0; out/pulmoscan-V2.3.1.1024.ivp: manifest byte-identical"))
        #expect(r.stdout.contains("\(fetchDepth == 0 ? 2 : 1) commit(s) checked out"), "\(r.stdout)")
        let reports = flavour == "github" ? ["sarif"] : ["codequality", "junit"]
        for kind in reports {
            #expect(r.stdout.contains("ok   \(kind) out/"), "\(r.stdout)")
        }
    }

    @Test(arguments: ["github", "gitlab"])
    func recipeWithoutTheTagRefetchStopsAtTheLightweightTag(flavour: String) throws {
        let folder = TemporaryFolder()
        let doc = try Self.documentWithout(folder, removed: 2) { $0.hasSuffix(Self.refetch) }
        let r = Self.runRecipe(flavour, document: doc)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("refs/tags/V2.3.1.1024 is not an annotated tag"), "\(r.stderr)")
    }

    @Test func shallowRefetchCutsAFullCheckoutsHistory() throws {
        let text = try String(contentsOfFile: Self.document, encoding: .utf8)
        let folder = TemporaryFolder()
        let doc = folder.write(
            "release-gate.md",
            text.replacingOccurrences(of: "git fetch --force origin", with: "git fetch --force --depth=1 origin"))
        let r = Self.runRecipe("gitlab", document: doc, fetchDepth: 0)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("the recipe cut its history"), "\(r.stderr)")
    }

    @Test func recipeWithoutTheRefetchAndItsGuardBuildsAnotherBundle() throws {
        let folder = TemporaryFolder()
        var inGuard = false
        let doc = try Self.documentWithout(folder, removed: 2 + 2 * 4) { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("if [ \"$(git cat-file -t") { inGuard = true }
            defer { if inGuard && trimmed == "fi" { inGuard = false } }
            return inGuard || line.hasSuffix(Self.refetch)
        }
        let r = Self.runRecipe("github", document: doc)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("manifest differs"), "\(r.stderr)")
        #expect(r.stderr.contains("annotatedTag"), "\(r.stderr)")
    }
}
