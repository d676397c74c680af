import ArgumentParser
import Foundation
import IVPack

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Assemble a reproducible bundle from a release spec, refusing an inconsistent version.",
        discussion: """
            Reads the release spec, checks that every component carries the one version of the \
            release (git tag on the commit built and a clean tree for code, model metadata, document \
            metadata, SBOM version, exact pins) and only then writes the bundle: a pax tar whose first \
            entry is the canonical-JSON manifest. The same inputs and SOURCE_DATE_EPOCH give a \
            byte-identical bundle.

            Encryption (docs/encryption.md): components marked `encrypt: true` in the spec, or named \
            with --encrypt, are stored encrypted (AES-256-GCM per chunk) under a content key \
            generated for this build, and the key is wrapped (CMS) for the licence server's escrow \
            certificate and for each --recipient; `verify` checks such a bundle without the key, \
            `install` decrypts it with a recipient's key or the key the licence server releases.

            Examples:
              ivpack build --spec release/ivpack.yaml \\
                --output out/pulmoscan-V2.3.1.1024.ivp
              ivpack build --spec release/ivpack.yaml \\
                --output out/pulmoscan-V2.3.1.1024.ivp --encrypt models \\
                --escrow-cert keys/licence-escrow.pem --recipient site-7=site7.pem
            """
    )

    @Option(name: .long, help: "The release spec.", completion: .file(extensions: ["yaml", "yml"]))
    var spec: String = "ivpack.yaml"

    @Option(
        name: [.short, .long], help: "The bundle file to write (written whole or not at all).", completion: .file())
    var output: String

    @Option(
        name: .long,
        help:
            "Seconds since 1970 for every header time (default: $SOURCE_DATE_EPOCH, else the commit time of the code).")
    var sourceDateEpoch: Int64?

    @Option(name: .long, help: "Store this component encrypted (repeatable; besides the spec's `encrypt: true`).")
    var encrypt: [String] = []

    @Option(
        name: .long,
        help:
            "The licence server's key-escrow certificate (PEM): the content key is wrapped for it, so that the server can release it to licensed installers.",
        completion: .file())
    var escrowCert: String?

    @Option(
        name: .long,
        help: "NAME=CERT.pem: wrap the content key for this certificate too, as recipient entry NAME (repeatable).")
    var recipient: [String] = []

    @Option(
        name: .long,
        help:
            "Encrypt with the key in this file (32 bytes, mode 0600) instead of a generated one: for byte-identical TEST builds only; the manifest says so.",
        completion: .file())
    var contentKey: String?

    @Option(
        name: .long, help: "Also write the content key to this NEW file (mode 0600). Keep it secret.",
        completion: .file())
    var exportContentKey: String?

    @OptionGroup var outputOptions: JSONOutputOptions

    @OptionGroup var progressOptions: ProgressOptions

    @Flag(name: .long, help: "Replace the output file if it exists (a signed bundle's signatures are lost).")
    var force = false

    mutating func run() throws {
        try reportingErrors {
            // Before any work: a signed bundle is not silently replaced by an unsigned one (issue 19).
            var existing = stat()
            if !force, lstat(output, &existing) == 0 {
                printError(
                    "error: \(output) exists already; nothing was built. Give another --output, or --force to replace it (a signed bundle's signatures would be lost)"
                )
                throw ExitCode(ExitStatus.badInput.rawValue)
            }
            try OutputFolder.prepare(output)
            var epoch = sourceDateEpoch
            if epoch == nil, let text = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"] {
                guard let value = Int64(text), value >= 0 else {
                    printError(
                        "error: SOURCE_DATE_EPOCH is \"\(text)\"; it must be a whole number of seconds since 1970")
                    throw ExitCode(ExitStatus.badInput.rawValue)
                }
                epoch = value
            }
            var encryption = BuildEncryption()
            encryption.components = encrypt
            encryption.exportKey = exportContentKey
            if let contentKey { encryption.key = try ContentKey.load(file: contentKey) }
            if let escrowCert {
                encryption.recipients.append(
                    (RecipientEntryName.escrowName, try Self.oneCertificate(escrowCert, option: "--escrow-cert")))
            }
            for text in recipient {
                guard let equals = text.firstIndex(of: "="), SignatureEntryName.isValidRole(String(text[..<equals])),
                    text.index(after: equals) < text.endIndex
                else {
                    printError(
                        "error: --recipient \"\(text)\": expected NAME=CERT.pem, NAME being 1 to 32 lower-case letters, digits and '-', starting with a letter"
                    )
                    throw ExitCode(ExitStatus.badInput.rawValue)
                }
                let name = String(text[..<equals])
                encryption.recipients.append(
                    (name, try Self.oneCertificate(String(text[text.index(after: equals)...]), option: "--recipient")))
            }
            let result: BuildResult
            do {
                result = try BundleBuilder.build(
                    specPath: spec, outputPath: output, sourceDateEpoch: epoch, encryption: encryption,
                    progress: progressOptions.progress("build", machineOutput: outputOptions.json))
            } catch let mismatches as VersionMismatches where outputOptions.json {
                // Machines read the refusal too: the same findings check reports on the spec (exit 1).
                printJSON(
                    .object([
                        ("built", .bool(false)), ("version", .string(mismatches.version)),
                        ("findings", .array(mismatches.findings.map(\.json))),
                    ]))
                throw mismatches
            }
            let m = result.manifest
            if outputOptions.json {
                printJSON(
                    .object([
                        ("bundle", .string(result.outputPath)), ("product", .string(m.product.name)),
                        ("version", .string(m.version)),
                        ("bundleSize", .integer(result.bundleSize)), ("files", .integer(m.allFiles.count)),
                        ("components", .integer(m.components.count)),
                        ("manifestSHA256", .string(result.manifestDigest.hex)),
                        (
                            "encrypted",
                            .array((m.encryption?.components ?? []).map { .string($0) })
                        ),
                    ]))
            } else {
                let payload = m.allFiles.reduce(Int64(0)) { $0 + $1.size }
                print("Built \(m.product.name) \(m.version): \(result.outputPath)")
                print(
                    "  \(m.components.count) components, \(m.allFiles.count) files, \(payload) payload bytes, bundle \(result.bundleSize) bytes"
                )
                print("  manifest sha256 \(result.manifestDigest.hex)")
                if let e = m.encryption {
                    let files = m.allFiles.filter { $0.encryption != nil }.count
                    print(
                        "  encrypted: \(e.components.joined(separator: ", ")) (\(files) files, AES-256-GCM), key \(e.keyOrigin == "generated" ? "generated" : "from \(contentKey ?? "a file") (test build)")"
                    )
                    for r in encryption.recipients { print("  key wrapped for \(r.name): \(r.certificate.subject)") }
                    if let exportContentKey { print("  content key exported to \(exportContentKey) (mode 0600)") }
                }
            }
        }
    }

    /// The one certificate in a PEM file given to `option`.
    static func oneCertificate(_ path: String, option: String) throws -> Certificate {
        let certificates = try Certificate.load(file: path)
        guard certificates.count == 1 else {
            throw InputError.credential(
                file: path,
                problem: "\(option) takes a file with exactly one certificate, this one has \(certificates.count)",
                hint: "Give the recipient's own certificate, without its chain")
        }
        return certificates[0]
    }
}
