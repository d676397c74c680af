/// The outcome of a successful build.
public struct BuildResult: Sendable {
    /// Where the bundle was written.
    public var outputPath: String
    public var manifest: Manifest
    /// SHA-256 of the manifest's canonical bytes: what signatures will cover.
    public var manifestDigest: SHA256Digest
    /// Size of the bundle file in bytes.
    public var bundleSize: Int64
}

/// How `build` encrypts (docs/encryption.md): which components besides the spec's
/// `encrypt: true`, with which key, and for whom the key is wrapped.
public struct BuildEncryption: Sendable {
    /// Components to encrypt besides those the spec marks `encrypt: true` (`--encrypt`).
    public var components: [String] = []
    /// The content key; nil: one is generated for this build (the only way for a release).
    public var key: ContentKey?
    /// Recipient entries to add after the payload, in order: the entry's name and the
    /// certificate the key is wrapped for (`--escrow-cert` first, as `license-escrow`, then
    /// each `--recipient NAME=CERT`).
    public var recipients: [(name: String, certificate: Certificate)] = []
    /// Where to export the content key (a new file, mode 0600); nil: nowhere.
    public var exportKey: String?

    public init() {}
}

/// Builds a bundle from a release spec: checks the input and the version consistency first, and
/// only then streams every file once into a pax tar whose first entry is the manifest.
///
/// The manifest's length does not depend on any digest (all are fixed-width hex), so the builder
/// reserves its exact size at the front, streams the payload while hashing it, and writes the
/// finished manifest into the reserved place: one read of every input byte, memory independent of
/// file sizes.
public enum BundleBuilder {
    /// The tool identification recorded in the provenance.
    public static let toolVersion = "ivpack \(IVPackVersion.current)"

    /// Builds the bundle for the spec at `specPath` into `outputPath`.
    /// - Parameter sourceDateEpoch: the time written into every header; when nil, the commit time
    ///   of the first code component's HEAD, or 0 for a release without code.
    /// - Parameter progress: called with payload bytes written so far and the total.
    public static func build(
        specPath: String, outputPath: String, sourceDateEpoch: Int64?,
        encryption options: BuildEncryption = BuildEncryption(),
        progress: ProgressHandler? = nil
    ) throws -> BuildResult {
        let spec = try ReleaseSpec.load(path: specPath)
        let encrypted = try encryptedComponents(spec, options)
        let tree = try ReleaseTree(root: spec.root)

        // 1. Input files, all problems at once.
        var problems: [InputProblem] = []
        var filesByComponent: [(ComponentSpec, [ReleaseFile])] = []
        let notes = ComponentSpec(
            name: ReleaseNotesComponent.name, kind: .document, paths: [spec.releaseNotes], version: VersionSource(),
            line: 0)
        for component in spec.components + [notes] {
            var files: [ReleaseFile] = []
            tree.collect(component: component.name, paths: component.paths, into: &files, problems: &problems)
            filesByComponent.append((component, files))
        }
        if !problems.isEmpty { throw InputProblems(problems: problems) }
        if let install = spec.install { try applyExecutables(install, to: &filesByComponent, spec: spec) }
        if let qualification = spec.qualification {
            var modes: [String: String] = [:]
            var owners: [String: String] = [:]
            for (component, files) in filesByComponent {
                for file in files {
                    modes[Manifest.payloadPrefix + file.relativePath] = file.executable ? "0755" : "0644"
                    owners[Manifest.payloadPrefix + file.relativePath] = component.name
                }
            }
            try qualification.check(modes: modes, components: owners, file: spec.file)
        }

        // 2. Version consistency, all mismatches at once, before any byte is written.
        let consistency = VersionConsistency(spec: spec, tree: tree)
        var results: [ComponentVersionResult] = []
        for (component, files) in filesByComponent {
            results.append(try consistency.check(component, files: files))
        }
        let mismatches = results.flatMap(\.mismatches)
        if !mismatches.isEmpty {
            throw VersionMismatches(
                version: spec.version, mismatches: mismatches,
                kinds: Dictionary(filesByComponent.map { ($0.0.name, $0.0.kind) }, uniquingKeysWith: { a, _ in a }),
                root: spec.root)
        }

        var epoch = sourceDateEpoch
        if epoch == nil, let code = spec.components.first(where: { $0.kind == .code }) {
            if case .success(let real) = tree.resolve(code.version.repository ?? code.paths[0]) {
                epoch = try GitRepository(discoveringFrom: real).headCommitTime()
            }
        }

        // Every header carries this time; the tar format holds 1970 to 2242 (11 octal digits).
        if let epoch, !(0...TarHeaderFormat.maxModificationTime).contains(epoch) {
            throw HeaderTimeError(seconds: epoch, fromCommit: sourceDateEpoch == nil)
        }

        // The content key and its wrapped copies, before any byte is written (a recipient that
        // cannot take a key is refused here).
        var contentKey: ContentKey?
        var wrapped: [(path: String, der: [UInt8])] = []
        if !encrypted.isEmpty {
            let key = try options.key ?? ContentKey.generate()
            contentKey = key
            for (i, recipient) in options.recipients.enumerated() {
                wrapped.append(
                    (
                        RecipientEntryName.make(index: i + 1, name: recipient.name),
                        try EnvelopedKey.wrap(key, to: [recipient.certificate]).der
                    ))
            }
        }

        // 3. The manifest with placeholder digests: its length is final.
        let zero = SHA256Digest.zero
        var position = 0
        var manifest = Manifest(
            product: spec.product, version: spec.version, chunkSize: spec.chunkSize,
            releaseNotes: Manifest.payloadPrefix + spec.releaseNotes,
            components: zip(filesByComponent, results).map { entry, result in
                Manifest.Component(
                    name: entry.0.name, kind: entry.0.kind,
                    files: entry.1.map { f in
                        defer { position += 1 }
                        let chunks = Manifest.chunkCount(size: f.size, chunkSize: spec.chunkSize)
                        return Manifest.FileEntry(
                            path: Manifest.payloadPrefix + f.relativePath, size: f.size,
                            mode: f.executable ? "0755" : "0644",
                            sha256: zero,
                            // An encrypted file's chunks are digested as stored (ciphertextChunks).
                            chunks: encrypted.contains(entry.0.name) ? [] : Array(repeating: zero, count: chunks),
                            encryption: encrypted.contains(entry.0.name)
                                ? Manifest.FileEncryption(
                                    fileIndex: position, ciphertextChunks: Array(repeating: zero, count: chunks))
                                : nil)
                    },
                    versionEvidence: result.evidence)
            },
            requirements: spec.requirements,
            install: spec.install.map(\.spec).flatMap { $0.isEmpty ? nil : $0 },
            qualification: spec.qualification?.spec,
            encryption: try contentKey.map { key in
                Manifest.Encryption(
                    components: (spec.components + [notes]).map(\.name).filter { encrypted.contains($0) },
                    keyCheck: try key.checkValue(),
                    keyOrigin: options.key == nil ? "generated" : "file")
            },
            provenance: Manifest.Provenance(
                tool: toolVersion, sourceDateEpoch: epoch ?? 0, specSHA256: spec.digest,
                git: results.compactMap(\.git)))
        // Every file with a path of its own once installed (install.destinations), still before any byte is written.
        try spec.install?.checkDestinations(components: manifest.components, file: spec.file)
        let reservedLength = manifest.canonicalBytes.count

        // 4. Stream the payload.
        let output = try AtomicOutputFile(path: outputPath)
        // The bundle goes to disk with direct I/O where the file system allows (DirectAppender).
        let appender = DirectAppender(output: output)
        let writer = TarStreamWriter(name: output.path) { try appender.append($0) }
        let mtime = epoch ?? 0
        try writer.beginFile(
            path: Manifest.entryPath, size: Int64(reservedLength), permissions: 0o644, modificationTime: mtime)
        let manifestOffset = writer.offset
        try [UInt8](repeating: 0x20, count: reservedLength).withUnsafeBytes { try writer.write($0) }
        try writer.finishEntry()

        // Pieces are read once into pooled buffers; the whole-file and chunk digests are computed
        // on other threads while this one writes the piece to the bundle.
        let largest = filesByComponent.lazy.flatMap(\.1).map(\.size).max() ?? 0
        let pieces = PayloadHasher.pieceLayout(largestFile: largest)
        let hasher = PayloadHasher(chunkSize: spec.chunkSize, pieceSize: pieces.size, buffers: pieces.count)
        // On any error, no hashing thread may still run when the command exits.
        defer { hasher.waitUntilIdle() }
        let encryptor = contentKey.map { PayloadEncryptor(key: $0, chunkSize: spec.chunkSize) }
        defer { encryptor?.waitUntilIdle() }
        let throttle = ProgressThrottle(progress, total: manifest.allFiles.reduce(Int64(0)) { $0 + $1.size })
        var written: Int64 = 0
        var order: [(component: Int, file: Int)] = []
        for ci in manifest.components.indices {
            let files = filesByComponent[ci].1
            for fi in manifest.components[ci].files.indices {
                let file = files[fi]
                let entry = manifest.components[ci].files[fi]
                let input = try InputFile(path: file.diskPath)
                guard input.size == file.size else { throw changedDuringBuild(file) }
                input.adviseSequential()
                throttle.reading(entry.path)
                try writer.beginFile(
                    path: entry.path, size: entry.storedSize, permissions: file.executable ? 0o755 : 0o644,
                    modificationTime: mtime)
                if let fileEncryption = entry.encryption, let encryptor {
                    let digests = try encryptor.encrypt(
                        input, size: file.size, fileIndex: UInt32(fileEncryption.fileIndex),
                        changed: { changedDuringBuild(file) }, write: { try writer.write($0) })
                    manifest.components[ci].files[fi].sha256 = digests.whole
                    manifest.components[ci].files[fi].encryption?.ciphertextChunks = digests.ciphertextChunks
                    written += file.size
                    throttle.update(written)
                    var probe: UInt8 = 0
                    if try withUnsafeMutableBytes(of: &probe, { try input.read(into: $0, at: file.size) }) != 0 {
                        throw changedDuringBuild(file)
                    }
                    try writer.finishEntry()
                    continue
                }
                let number = hasher.beginFile(size: file.size)
                order.append((ci, fi))
                var offset: Int64 = 0
                repeat {
                    let piece = hasher.takePiece()
                    let want = Int(min(Int64(hasher.pieceSize), file.size - offset))
                    let n: Int
                    do {
                        n = try input.readFully(
                            into: UnsafeMutableRawBufferPointer(rebasing: piece.buffer[0..<want]), at: offset)
                    } catch {
                        hasher.discard(piece)
                        throw error
                    }
                    guard n == want else {
                        hasher.discard(piece)
                        throw changedDuringBuild(file)
                    }
                    let last = offset + Int64(n) == file.size
                    hasher.submit(piece, length: n, file: number, offset: offset, last: last)
                    defer { hasher.release(piece) }
                    try writer.write(UnsafeRawBufferPointer(rebasing: piece.buffer[0..<n]))
                    offset += Int64(n)
                    written += Int64(n)
                    throttle.update(written)
                } while offset < file.size
                // A file that grew after it was listed is caught here rather than silently cut.
                var probe: UInt8 = 0
                if try withUnsafeMutableBytes(of: &probe, { try input.read(into: $0, at: offset) }) != 0 {
                    throw changedDuringBuild(file)
                }
                try writer.finishEntry()
            }
        }
        hasher.finish()
        // Recipient entries (wrapped content keys) after the payload, before any signature.
        for entry in wrapped {
            try writer.beginFile(
                path: entry.path, size: Int64(entry.der.count), permissions: 0o644, modificationTime: mtime)
            try entry.der.withUnsafeBytes { try writer.write($0) }
            try writer.finishEntry()
        }
        for (number, (ci, fi)) in order.enumerated() {
            let digests = hasher.digests(of: number)
            manifest.components[ci].files[fi].sha256 = digests.whole
            // In place: the placeholder array has the right length and is not shared.
            manifest.components[ci].files[fi].chunks.replaceSubrange(0..., with: digests.chunks)
        }
        try writer.close()
        try appender.finish()
        throttle.finish()

        // 5. The real manifest into its reserved place, then commit the file.
        let bytes = manifest.canonicalBytes
        precondition(bytes.count == reservedLength, "manifest length changed between reservation and completion")
        try output.write(bytes, at: manifestOffset)
        Failpoint.reach("build-before-commit")
        try output.commit()
        // The explicit export, once the bundle exists: a new file, mode 0600.
        if let path = options.exportKey, let contentKey { try contentKey.export(to: path) }
        return BuildResult(
            outputPath: outputPath, manifest: manifest, manifestDigest: SHA256Digest.of(bytes),
            bundleSize: writer.offset)
    }

    /// The components to encrypt: the spec's `encrypt: true` and `--encrypt`; each must exist and
    /// not be the release notes (the gate and every reader need them in the clear). An encrypted
    /// bundle needs someone to open it: a recipient, the escrow certificate, or an exported key.
    static func encryptedComponents(_ spec: ReleaseSpec, _ options: BuildEncryption) throws -> Set<String> {
        var names = Set(spec.components.filter(\.encrypt).map(\.name))
        for name in options.components {
            if name == ReleaseNotesComponent.name {
                throw EncryptionSetupError(
                    problem: "the release notes cannot be encrypted: the release gate and every reader need them",
                    hint: "Encrypt the components that hold the confidential files (model weights)")
            }
            guard spec.components.contains(where: { $0.name == name }) else {
                throw EncryptionSetupError(
                    problem: "--encrypt \(name): the spec has no component of that name",
                    hint: "The spec's components are: \(spec.components.map(\.name).joined(separator: ", "))")
            }
            names.insert(name)
        }
        if names.isEmpty {
            if !options.recipients.isEmpty || options.key != nil || options.exportKey != nil {
                throw EncryptionSetupError(
                    problem: "a recipient, a content key or a key export was given, but no component is encrypted",
                    hint: "Mark components `encrypt: true` in the spec, or name them with --encrypt COMPONENT")
            }
            return []
        }
        if options.recipients.isEmpty && options.exportKey == nil {
            throw EncryptionSetupError(
                problem:
                    "components \(names.sorted().joined(separator: ", ")) are to be encrypted, but nobody could decrypt them",
                hint:
                    "Give the licence server's escrow certificate (--escrow-cert), a site's certificate (--recipient NAME=CERT.pem), or --export-content-key FILE"
            )
        }
        var seen = Set<String>()
        for recipient in options.recipients where !seen.insert(recipient.name).inserted {
            throw EncryptionSetupError(
                problem: "two recipients are named \"\(recipient.name)\"", hint: "Give each recipient its own name")
        }
        return names
    }

    /// Gives the spec's `install.executables` mode 0755 and checks every hook's program against
    /// the files (InstallSection.check), before any byte is written.
    private static func applyExecutables(
        _ install: InstallSection, to files: inout [(ComponentSpec, [ReleaseFile])], spec: ReleaseSpec
    ) throws {
        var modes: [String: String] = [:]
        for file in files.lazy.flatMap(\.1) {
            modes[Manifest.payloadPrefix + file.relativePath] = file.executable ? "0755" : "0644"
        }
        let applied = try install.check(modes: modes, file: spec.file)
        for ci in files.indices {
            for fi in files[ci].1.indices {
                let entry = Manifest.payloadPrefix + files[ci].1[fi].relativePath
                if applied[entry] == "0755" { files[ci].1[fi].executable = true }
            }
        }
    }

    private static func changedDuringBuild(_ file: ReleaseFile) -> InputProblems {
        InputProblems(problems: [
            InputProblem(
                path: file.relativePath, component: file.component,
                problem: "changed while the bundle was being built",
                hint: "Stop whatever writes to the release folder and build again")
        ])
    }
}

/// The encryption asked of `build` cannot be done as asked (checked before any byte is written).
public struct EncryptionSetupError: IVPackError, Equatable {
    public var problem: String
    public var hint: String
    public var exitStatus: ExitStatus { .badInput }
    public var description: String { "\(problem). No bundle was written. \(hint)" }
}

/// The time for every header is outside what a tar header holds (checked before any byte is written).
public struct HeaderTimeError: IVPackError, Equatable {
    public var seconds: Int64
    /// Whether the time is the code's commit time rather than SOURCE_DATE_EPOCH / --source-date-epoch.
    public var fromCommit: Bool
    public var exitStatus: ExitStatus { .badInput }
    public var description: String {
        "\(fromCommit ? "the code component's commit time" : "SOURCE_DATE_EPOCH (or --source-date-epoch)") is \(seconds) s since 1970; "
            + "bundle headers hold 0 to \(TarHeaderFormat.maxModificationTime) (year 2242). No bundle was written. "
            + "Give a time in that range with --source-date-epoch"
    }
}

/// The version of this ivpack.
public enum IVPackVersion {
    public static let current = "0.1.0"
}
