import ArgumentParser
import Foundation
import IVPack

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Start a release repository: a spec, a release-notes skeleton, an SBOM, a .gitignore.",
        discussion: """
            Writes into DIR (default: the current folder) ivpack.yaml, the release-notes skeleton the \
            gate policy requires (front matter, records, sections, change table), a minimal CycloneDX \
            SBOM, service/VERSION (the file the code reads its version from), a .gitignore for build \
            outputs and keys, and the folders the spec points at. Every value only you know is a TODO \
            that ivpack check refuses, finding by finding, until it is filled. An existing file is never \
            replaced without --force: exit 2 naming it, nothing written. See README.md, ivpack init.

            Examples:
              ivpack init --product "PulmoScan AI"
              ivpack init release --policy semver --product "Lung Triage"
            """
    )

    @Argument(help: "The folder to initialise (created when missing).", completion: .directory)
    var directory: String = "."

    @Option(name: .long, help: "The gate policy the skeleton is for: nmpa or semver.")
    var policy: String = "nmpa"

    @Option(name: .long, help: "The product's name; default: the folder's name.")
    var product: String?

    @Flag(name: .long, help: "Replace files that exist already.")
    var force = false

    func validate() throws {
        guard GatePolicy.preset(policy) != nil else {
            throw ValidationError("--policy \(policy): init writes for a preset: nmpa or semver")
        }
    }

    mutating func run() throws {
        try reportingErrors {
            let gatePolicy = GatePolicy.preset(policy)!
            let name = product ?? Self.folderName(directory)
            let entries = try ReleaseScaffold.plan(product: name, policy: gatePolicy)
            try ReleaseScaffold.write(entries, into: directory, force: force)
            let shown = directory == "." ? "" : (directory.hasSuffix("/") ? directory : directory + "/")
            print("Initialised \(name) \(ReleaseScaffold.firstVersion(gatePolicy)) for policy \(gatePolicy.name):")
            for entry in entries {
                print("  \(entry.content == nil ? "folder" : "wrote ") \(shown)\(entry.path)")
            }
            print("")
            let todo = ReleaseScaffold.placeholders(entries)
            print("Fill these (each TODO is a finding of ivpack check until then):")
            for path in entries.map(\.path) {
                let lines = todo.filter { $0.path == path }
                guard !lines.isEmpty else { continue }
                var fields: [String] = []
                for case let field? in lines.map(\.field) where !fields.contains(field) { fields.append(field) }
                print("  \(shown)\(path): \(lines.count) line\(lines.count == 1 ? "" : "s")")
                for row in Self.wrapped(fields, width: 72) { print("    " + row) }
                if lines.contains(where: { $0.field == nil }) {
                    print("    and the TODO lines of the sections and the change table")
                }
            }
            print("")
            print("Next steps:")
            print("  1. Replace every TODO (grep -rn TODO \(shown.isEmpty ? "." : shown)).")
            print("  2. Put the code under \(shown)\(ReleaseScaffold.codeFolder)/, list its dependencies in the SBOM.")
            print("  3. ivpack check \(shown)ivpack.yaml --policy \(gatePolicy.name)")
            print("  4. git add -A && git commit && git tag -a \(ReleaseScaffold.firstVersion(gatePolicy)) -m Release")
            print("  5. ivpack build --spec \(shown)ivpack.yaml --output out/release.ivp, then ivpack sign.")
        }
    }

    /// `items` joined by ", " into lines of at most `width` columns (an item longer than that alone).
    static func wrapped(_ items: [String], width: Int) -> [String] {
        var rows: [String] = []
        var row = ""
        for item in items {
            let next = row.isEmpty ? item : row + ", " + item
            if next.count > width && !row.isEmpty {
                rows.append(row + ",")
                row = item
            } else {
                row = next
            }
        }
        if !row.isEmpty { rows.append(row) }
        return rows
    }

    /// The last component of `directory`, or of the current folder for `.`.
    static func folderName(_ directory: String) -> String {
        var path = directory
        if path == "." || path.isEmpty { path = FileManager.default.currentDirectoryPath }
        while path.hasSuffix("/") && path.count > 1 { path.removeLast() }
        return path.split(separator: "/").last.map(String.init) ?? "product"
    }
}
