import Testing

@testable import IVPack

/// The one YAML entry point: the pre-scan, then the composer, each failure with the file's line.
struct YAMLTextTests {
    @Test func anAnchorIsRefusedBeforeComposingAtTheFilesLine() {
        do {
            _ = try YAMLText.compose(lines: ["a: 1", "b: &x 2"], firstLine: 5, displayPath: "f.yaml", what: "the YAML")
            Issue.record("an anchor was composed")
        } catch {
            guard case .refused(let line, let e) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(e.detail == "line 6")
            #expect(line == 6)
            #expect(e.problem.contains("uses a YAML anchor"))
        }
    }

    @Test func syntaxErrorsAreYamsErrors() {
        do {
            _ = try YAMLText.compose(lines: ["a: [1, 2"], firstLine: 1, displayPath: "f.yaml", what: "the YAML")
            Issue.record("an unclosed list was composed")
        } catch {
            guard case .syntax = error else {
                Issue.record("\(error)")
                return
            }
        }
    }

    @Test func anEmptyDocumentHasNoRoot() throws {
        #expect(try YAMLText.compose(lines: [""], firstLine: 1, displayPath: "f.yaml", what: "the YAML") == nil)
        #expect(try YAMLText.compose(lines: ["a: 1"], firstLine: 1, displayPath: "f.yaml", what: "the YAML") != nil)
    }

    @Test func everyReaderRefusesAnAnchorInItsOwnWords() throws {
        let input = #expect(throws: InputError.self) { try YAMLReader(file: "p.yaml").root(of: "a: 1\nb: &x 2\n") }
        #expect(input?.line == 2)
        let notes = try ReleaseNotesDocument.parse(text: "---\nversion: &v 1\n---\n# Notes\n", file: "notes.md")
        #expect(notes.frontMatterProblem?.line == 2)
        #expect(notes.frontMatterProblem?.problem.contains("front matter uses a YAML anchor") == true)
    }
}
