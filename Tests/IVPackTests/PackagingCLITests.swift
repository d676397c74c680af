import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// What an installed ivpack tells about itself, and the shell completions `make install` ships.
@Suite struct PackagingCLITests {
    @Test func versionPrintsTheVersionFirstThenBuildAndLoadedLibraries() {
        let r = ivpack(["--version"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == IVPackVersion.current)
        #expect(lines.count == 5, "\(r.stdout)")
        #expect(lines.dropFirst().first?.hasPrefix("commit ") == true)
        #expect(Array(lines.dropFirst(2)) == BuildInfo.current.libraries)
        #expect(lines.contains { $0.hasPrefix("OpenSSL 3.") })
        #expect(lines.contains { $0.hasPrefix("libarchive 3.") })
        #expect(lines.contains { $0.hasPrefix("libgit2 1.") })
    }

    /// Help text is wrapped by argument-parser at the terminal's width: an example line longer
    /// than that is broken in the middle of an argument, and the pasted command fails (issue 19).
    @Test func everyHelpExampleLineFitsIn76Columns() throws {
        let r = ivpack(["--experimental-dump-help"])
        #expect(r.status == 0, "\(r.stderr)")
        let dump = try JSONParser.parse(Array(r.stdout.utf8))
        var long: [String] = []
        var commands = 0
        func walk(_ command: JSONValue?, _ path: String) {
            guard let command else { return }
            commands += 1
            for line in (command["discussion"]?.stringValue ?? "").split(separator: "\n")
            where line.hasPrefix(" ") && line.count > 76 {
                long.append("\(path): \(line)")
            }
            if case .array(let subcommands)? = command["subcommands"] {
                for sub in subcommands { walk(sub, path + " " + (sub["commandName"]?.stringValue ?? "?")) }
            }
        }
        walk(dump["command"], "ivpack")
        #expect(commands > 30)
        #expect(long.isEmpty, "\(long.joined(separator: "\n"))")
    }

    /// The IQ report names the ivpack that wrote it as `--version` does: an auditor can tell
    /// which build and which OpenSSL judged the signatures.
    @Test func theIQReportRecordsTheBuildAndLibrariesOfTheIvpackThatWroteIt() throws {
        let s = try SignedRelease()
        let report = s.folder.url("iq/IQ.json")
        let r = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy, "--report", report, "-q"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let value = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: report))))
        let build = value["environment"]?["ivpackBuild"]
        let version = ivpack(["--version"]).stdout.split(separator: "\n").map(String.init)
        #expect(build?["commit"]?.stringValue.map { version[1].hasPrefix("commit \($0), built ") } == true)
        #expect(build?["libraries"] == .array(version.dropFirst(2).map { .string($0) }))
        #expect(IQReport(reportBytes: Array(try Data(contentsOf: URL(fileURLWithPath: report))))?.ivpackBuild != nil)
    }

    /// The generated bash script, sourced and asked as bash would ask it on TAB.
    func bashCompletions(_ words: [String], in folder: TemporaryFolder) -> [String] {
        let script = folder.write("ivpack.bash", ivpack(["--generate-completion-script", "bash"]).stdout)
        let quoted = words.map { "'\($0)'" }.joined(separator: " ")
        let r = run(
            "/bin/bash",
            [
                "-c",
                """
                source '\(script)'
                COMP_WORDS=(\(quoted)); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
                _ivpack ivpack "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
                printf '%s\\n' "${COMPREPLY[@]}"
                """,
            ],
            in: folder.url("work"))
        return r.stdout.split(separator: "\n").map(String.init).sorted()
    }

    @Test func bashCompletesFileNamesForPathOptionsAndArguments() {
        let folder = TemporaryFolder()
        _ = folder.write("work/pki/root-ca.pem", "")
        _ = folder.write("work/pki-policy.yaml", "")
        _ = folder.write("work/pkg.txt", "")
        // A trust policy: YAML files and folders.
        #expect(
            bashCompletions(["ivpack", "verify", "x.ivp", "--trust", "pk"], in: folder) == ["pki", "pki-policy.yaml"])
        // A bundle argument or a key: any file.
        #expect(bashCompletions(["ivpack", "inspect", "pk"], in: folder) == ["pkg.txt", "pki", "pki-policy.yaml"])
        #expect(
            bashCompletions(["ivpack", "sign", "x.ivp", "--key", "pk"], in: folder) == [
                "pkg.txt", "pki", "pki-policy.yaml",
            ])
        // An install root: folders only.
        #expect(bashCompletions(["ivpack", "status", "--root", "pk"], in: folder) == ["pki"])
    }
}
