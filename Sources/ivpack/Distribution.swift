import ArgumentParser
import Foundation
import IVPack
import IVPackDistribution

/// How to reach an OCI registry: shared by push, pull, and verify and install of `oci://` references.
struct RegistryAccessOptions: ParsableArguments {
    @Option(
        name: .long, help: "For oci:// references: PEM file of the CA that issued the registry's certificate.",
        completion: .file(extensions: ["pem", "crt"]))
    var ca: String?

    @Option(
        name: .long,
        help:
            "For oci:// references: the registry user (password: \(RegistryCredentials.passwordVariable) or --password-file)."
    )
    var username: String?

    @Option(
        name: .long, help: "For oci:// references: a file whose first line is the registry password.",
        completion: .file())
    var passwordFile: String?

    /// The options as the library takes them; reads the password (file or environment).
    /// `chunkSize` is push's `--chunk-size`, the only command that uploads.
    func registryOptions(chunkSize: String? = nil) throws -> RegistryOptions {
        var options = RegistryOptions(
            caFile: ca,
            credentials: try RegistryCredentials.resolve(
                username: username, passwordFile: passwordFile, environment: ProcessInfo.processInfo.environment))
        if let chunkSize { options.chunkSize = try Self.parseSize(chunkSize) }
        return options
    }

    static func parseSize(_ text: String) throws -> Int64 {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = text
        var unit: Int64 = 1
        if let last = text.last?.uppercased().first, let u = units[last] {
            unit = u
            digits = String(text.dropLast())
        }
        guard let n = Int64(digits), n > 0, n <= (8 << 30) / unit else {
            throw ValidationError("--chunk-size \(text) is not a size from 1 byte to 8G (e.g. 65536, 64M)")
        }
        return n * unit
    }
}

/// Pulls `reference` to a temporary file when it is an `oci://` reference, runs `body` with the
/// local path, and removes the temporary file after; a plain path is passed through.
func withLocalBundle<T>(
    _ bundle: String, registry: RegistryAccessOptions, _ body: (String) async throws -> T
) async throws -> T {
    guard OCIReference.isReference(bundle) else { return try await body(bundle) }
    let reference = try OCIReference(parsing: bundle)
    let (path, cleanUp) = try await BundleDistribution.pullToTemporaryFile(
        reference, options: try registry.registryOptions())
    defer { cleanUp() }
    return try await body(path)
}

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push a bundle to an OCI registry as an artifact (chunked, resumable upload).",
        discussion: """
            Uploads the bundle as the one layer of an OCI image manifest with artifactType \
            application/vnd.ivpack.bundle.v1, annotated with the product, version and manifest \
            digest, and tags it. A blob the registry already has is not sent again. Prints the \
            manifest digest: pull by REPOSITORY@sha256:... for exactly this bundle.

            Exit codes: 0 pushed; 2 bad bundle, reference or options; 3 network, TLS, \
            authentication or registry failure.

            Example:
              IVPACK_REGISTRY_PASSWORD=... ivpack push \\
                out/pulmoscan-V2.3.1.1024.ivp \\
                oci://registry.vendor.example/med/pulmoscan:V2.3.1.1024 \\
                --username release-ci --ca /etc/ivpack/registry-ca.pem
            """
    )

    @Argument(help: "The bundle file.", completion: .file())
    var bundle: String

    @Argument(help: "oci://HOST[:PORT]/REPOSITORY:TAG")
    var reference: String

    @OptionGroup var registry: RegistryAccessOptions

    @Option(name: .long, help: "Bytes per upload request (default 64 MiB; suffixes K, M, G).")
    var chunkSize: String?

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if let chunkSize { _ = try RegistryAccessOptions.parseSize(chunkSize) }
    }

    mutating func run() async throws {
        let options = self
        try await reportingErrors {
            let reference = try OCIReference(parsing: options.reference)
            let pushed = try await BundleDistribution.push(
                bundle: options.bundle, to: reference,
                options: try options.registry.registryOptions(chunkSize: options.chunkSize))
            if options.json {
                printJSON(
                    .object([
                        ("reference", .string(reference.description)),
                        ("manifestDigest", .string(pushed.manifestDigest)),
                        ("layerDigest", .string("sha256:\(pushed.layerDigest.hex)")),
                        ("size", .number("\(pushed.size)")), ("blobExisted", .bool(pushed.blobExisted)),
                    ]))
            } else {
                print("Pushed:  \(reference)")
                print("Product: \(pushed.product) \(pushed.version)")
                print(
                    "Layer:   sha256:\(pushed.layerDigest.hex) (\(pushed.size) bytes\(pushed.blobExisted ? ", already in the registry" : ""))"
                )
                print("Digest:  \(pushed.manifestDigest)")
            }
        }
    }
}

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull a bundle from an OCI registry, checking its digest while writing.",
        discussion: """
            Reads the manifest (it must be an ivpack bundle artifact), then writes the bundle to \
            FILE.partial while hashing it; only when the SHA-256 equals the manifest's layer \
            digest is the file synced and renamed to FILE. An interrupted pull leaves \
            FILE.partial: the next pull hashes what it holds and asks only for the rest. A \
            digest mismatch deletes FILE.partial. Verify the bundle after, or give the oci:// \
            reference to ivpack verify or install directly.

            Exit codes: 0 pulled; 1 digest mismatch or not an ivpack artifact; 2 bad reference, \
            options or output, or no such manifest; 3 network, TLS, authentication or registry \
            failure.

            Example:
              ivpack pull \\
                oci://registry.vendor.example/med/pulmoscan:V2.3.1.1024 \\
                --output pulmoscan.ivp --ca /etc/ivpack/registry-ca.pem
            """
    )

    @Argument(help: "oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST]")
    var reference: String

    @Option(name: [.short, .long], help: "Where to write the bundle.", completion: .file())
    var output: String

    @OptionGroup var registry: RegistryAccessOptions

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    mutating func run() async throws {
        let options = self
        try await reportingErrors {
            let reference = try OCIReference(parsing: options.reference)
            let pulled = try await BundleDistribution.pull(
                reference, to: options.output, options: try options.registry.registryOptions())
            if options.json {
                printJSON(
                    .object([
                        ("reference", .string(reference.description)), ("output", .string(pulled.output)),
                        ("manifestDigest", .string(pulled.manifestDigest)),
                        ("layerDigest", .string("sha256:\(pulled.layerDigest.hex)")),
                        ("size", .number("\(pulled.size)")),
                    ]))
            } else {
                print("Pulled:  \(reference)")
                if let product = pulled.annotations[OCIManifest.Key.product],
                    let version = pulled.annotations[OCIManifest.Key.bundleVersion]
                {
                    print("Product: \(product) \(version)")
                }
                print("Digest:  \(pulled.manifestDigest)")
                print("Wrote:   \(pulled.output) (\(pulled.size) bytes, sha256:\(pulled.layerDigest.hex))")
            }
        }
    }
}
