import ArgumentParser
import IVPack

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract:
            "Show what changed between two releases: components added, removed, changed (with digests), and the version step.",
        discussion: """
            Compares two bundles (or specs) file by file by SHA-256. A file whose bytes differ only where \
            the version is written (a VERSION file, a manual's front matter, model metadata) is listed as \
            restamped, not changed. The version step is the highest field that moved. Exit 0 whatever \
            differs; `ivpack check --previous` decides whether the differences are allowed.

            Example:
              ivpack diff out/pulmoscan-V2.3.1.1024.ivp out/pulmoscan-V2.4.0.1101.ivp \\
                --json
            """
    )

    @Argument(help: "The older release (bundle or spec).", completion: .file())
    var old: String

    @Argument(help: "The newer release (bundle or spec).", completion: .file())
    var new: String

    @Option(
        name: .long, help: "The gate policy whose version scheme names the step: nmpa, semver or a file.",
        completion: .file())
    var policy: String = "nmpa"

    @OptionGroup var outputOptions: JSONOutputOptions

    mutating func run() throws {
        try reportingErrors {
            let gatePolicy = try GatePolicy.resolve(policy)
            let a = try ReleaseUnderCheck.load(path: old)
            let b = try ReleaseUnderCheck.load(path: new)
            let diff = try ReleaseDiff.compute(
                old: a.kind == .spec ? try ReleaseUnderCheck.loadSpec(path: a.path, hashAll: true) : a,
                new: b.kind == .spec ? try ReleaseUnderCheck.loadSpec(path: b.path, hashAll: true) : b,
                policy: gatePolicy)
            if outputOptions.json {
                printJSON(diff.json)
                return
            }
            let step =
                diff.actualLevel.map { gatePolicy.scheme == .nmpa ? "\($0.letter) (\($0.name))" : $0.name } ?? "none"
            print("\(diff.oldVersion) → \(diff.newVersion): step \(step)")
            for c in diff.components {
                print("  \(c.status.rawValue.padding(9)) \(c.name) [\(c.kind.rawValue)]")
                for f in c.files {
                    let digests = [f.oldSHA256.map { "old \($0.hex)" }, f.newSHA256.map { "new \($0.hex)" }].compactMap
                    { $0 }.joined(separator: " ")
                    print("      \(f.status.rawValue.padding(9)) \(f.path)  \(digests)")
                }
            }
        }
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
