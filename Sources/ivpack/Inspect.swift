import ArgumentParser
import IVPack

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a bundle holds: product, version, components, files, digests, signatures.",
        discussion: """
            Reads the manifest and the entry headers; it does not check digests or signatures \
            (that is `ivpack verify`).

            Example:
              ivpack inspect out/pulmoscan-V2.3.1.1024.ivp --json
            """
    )

    @Argument(help: "The bundle.", completion: .file())
    var bundle: String

    @OptionGroup var outputOptions: JSONOutputOptions

    mutating func run() throws {
        try reportingErrors {
            let i = try BundleInspector.inspect(path: bundle)
            let m = i.manifest
            if outputOptions.json {
                printJSON(
                    .object([
                        ("bundle", .string(i.path)), ("manifestSHA256", .string(i.manifestDigest.hex)),
                        ("manifest", m.json),
                        (
                            "signatures",
                            .array(
                                i.signatures.map { .object([("path", .string($0.path)), ("size", .integer($0.size))]) })
                        ),
                        (
                            "attestations",
                            .array(
                                i.attestations.map {
                                    .object([("path", .string($0.path)), ("size", .integer($0.size))])
                                })
                        ),
                        ("unexpectedEntries", .array(i.unexpected.map { .string($0.path) })),
                        ("missingEntries", .array(i.missing.map { .string($0) })),
                        ("problems", .array(i.problems.map { .string($0) })),
                    ]))
                return
            }
            print("Bundle:    \(i.path)")
            print("Product:   \(m.product.name) (\(m.product.model)), \(m.product.vendor)")
            print("Version:   \(m.version)")
            print("Manifest:  sha256 \(i.manifestDigest.hex)")
            print(
                "Built by:  \(m.provenance.tool), SOURCE_DATE_EPOCH=\(m.provenance.sourceDateEpoch), spec sha256 \(m.provenance.specSHA256.hex)"
            )
            for g in m.provenance.git {
                print(
                    "Git:       \(g.component): tag \(g.tag)\(g.annotatedTag ? " (annotated)" : "") on commit \(g.commit)"
                )
            }
            for c in m.components {
                print("")
                print("Component \(c.name) [\(c.kind.rawValue)]")
                for e in c.versionEvidence { print("  version \(e.found): \(e.file), \(e.location)") }
                for f in c.files { print("  \(f.mode) \(String(f.size).leftPadded(12)) \(f.sha256.hex)  \(f.path)") }
            }
            if let install = m.install {
                // From the bundle, so shown escaped like every other name.
                print("")
                print("Install:   root \(install.root.map(Display.name) ?? "none (give --root on site)")")
                if !install.state.isEmpty {
                    print("  state (under ROOT/state): \(install.state.map(Display.name).joined(separator: ", "))")
                }
                for (component, folder) in install.destinations.sorted(by: { $0.key < $1.key }) {
                    print("  destination \(Display.name(component)): \(Display.name(folder))/ (in the release folder)")
                }
                for (name, hook) in install.hooks.sorted(by: { $0.key < $1.key }) {
                    print(
                        "  hook \(name.rawValue): \(hook.run.map(Display.name).joined(separator: " ")) (timeout \(hook.timeoutSeconds) s)"
                    )
                }
            }
            print("")
            if i.signatures.isEmpty {
                print("Signatures: none")
            } else {
                print("Signatures:")
                for s in i.signatures { print("  \(s.path) (\(s.size) bytes)") }
            }
            if !i.attestations.isEmpty {
                print("Attestations:")
                for a in i.attestations { print("  \(a.path) (\(a.size) bytes)") }
            }
            // Names from the bundle are shown escaped: they may hold terminal controls.
            for u in i.unexpected { print("warning: entry not in the manifest: \(u.shownPath)") }
            for p in i.missing { print("warning: manifest file missing from the archive: \(Display.name(p))") }
            let listed = i.unexpected.count + i.missing.count
            if i.problems.count > listed {
                print(
                    "warning: \(i.problems.count) problem\(i.problems.count == 1 ? "" : "s") with the bundle's structure; `ivpack verify` fails on them:"
                )
                for p in i.problems.prefix(20) { print("  \(p)") }
            }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
