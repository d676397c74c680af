import ArgumentParser
import IVPack

#if canImport(Glibc)
    import Glibc
#endif

struct NotesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notes",
        abstract: "Release notes: print the skeleton the gate policy requires.",
        discussion: """
            Examples:
              ivpack notes template --spec ivpack.yaml --previous V2.3.0.1013
            """,
        subcommands: [NotesTemplateCommand.self]
    )
}

struct NotesTemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template",
        abstract: "Print the release-notes skeleton of a version, with what the spec and its files say.",
        discussion: """
            Fills in what ivpack knows from the spec and the files it names: product, model, version, \
            release version and SemVer, the previous version (--previous, else the highest release tag \
            below the version in the code's repository), the model weights' digests, \
            the SBOM's path and SHA-256; every other value is a TODO that ivpack check refuses until it \
            is filled (NOTES-018). The same generator as ivpack init. With --output, writes a new file \
            (an existing one is refused: exit 2).

            Examples:
              ivpack notes template --spec ivpack.yaml
              ivpack notes template --version V2.4.0.1101 --previous V2.3.1.1024 \\
                --output release-notes/V2.4.0.1101.md
            """
    )

    @Option(name: .long, help: "The gate policy: nmpa or semver.")
    var policy: String = "nmpa"

    @Option(name: .long, help: "The version the notes are for; default: the spec's.")
    var version: String?

    @Option(name: .long, help: "The previous released version (none for a first release); default: from the tags.")
    var previous: String?

    @Option(name: .long, help: "The release spec.", completion: .file(extensions: ["yaml", "yml"]))
    var spec: String = "ivpack.yaml"

    @Option(name: .long, help: "Write the skeleton to this new file instead of standard output.", completion: .file())
    var output: String?

    func validate() throws {
        guard GatePolicy.preset(policy) != nil else {
            throw ValidationError("--policy \(policy): the template is for a preset: nmpa or semver")
        }
    }

    mutating func run() throws {
        try reportingErrors {
            let gatePolicy = GatePolicy.preset(policy)!
            if let output {
                var st = stat()
                if lstat(output, &st) == 0 {
                    printError("error: \(output) exists already; nothing was written. Give another --output")
                    throw ExitCode(ExitStatus.badInput.rawValue)
                }
            }
            let text = try NotesTemplate.render(
                specPath: spec, policy: gatePolicy, version: version, previous: previous)
            if let output {
                try NotesTemplate.write(text, to: output)
                printError("notes: wrote \(output); replace every TODO, then run ivpack check")
            } else {
                print(text, terminator: "")
            }
        }
    }
}
