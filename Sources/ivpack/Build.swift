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

            Example:
              ivpack build --spec release/ivpack.yaml --output out/pulmoscan-V2.3.1.1024.ivp
            """
    )

    @Option(name: .long, help: "The release spec.")
    var spec: String = "ivpack.yaml"

    @Option(name: [.short, .long], help: "The bundle file to write (written whole or not at all).")
    var output: String

    @Option(
        name: .long,
        help:
            "Seconds since 1970 for every header time (default: $SOURCE_DATE_EPOCH, else the commit time of the code).")
    var sourceDateEpoch: Int64?

    @OptionGroup var outputOptions: JSONOutputOptions

    @OptionGroup var progressOptions: ProgressOptions

    mutating func run() throws {
        try reportingErrors {
            var epoch = sourceDateEpoch
            if epoch == nil, let text = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"] {
                guard let value = Int64(text), value >= 0 else {
                    printError(
                        "error: SOURCE_DATE_EPOCH is \"\(text)\"; it must be a whole number of seconds since 1970")
                    throw ExitCode(ExitStatus.badInput.rawValue)
                }
                epoch = value
            }
            let result = try BundleBuilder.build(
                specPath: spec, outputPath: output, sourceDateEpoch: epoch,
                progress: progressOptions.progress("build", machineOutput: outputOptions.json))
            let m = result.manifest
            if outputOptions.json {
                printJSON(
                    .object([
                        ("bundle", .string(result.outputPath)), ("product", .string(m.product.name)),
                        ("version", .string(m.version)),
                        ("bundleSize", .integer(result.bundleSize)), ("files", .integer(m.allFiles.count)),
                        ("components", .integer(m.components.count)),
                        ("manifestSHA256", .string(result.manifestDigest.hex)),
                    ]))
            } else {
                let payload = m.allFiles.reduce(Int64(0)) { $0 + $1.size }
                print("Built \(m.product.name) \(m.version): \(result.outputPath)")
                print(
                    "  \(m.components.count) components, \(m.allFiles.count) files, \(payload) payload bytes, bundle \(result.bundleSize) bytes"
                )
                print("  manifest sha256 \(result.manifestDigest.hex)")
            }
        }
    }
}
