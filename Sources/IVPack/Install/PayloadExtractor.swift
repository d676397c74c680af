#if canImport(Glibc)
    import Glibc
#endif

/// Install's two reads of a bundle: first verify's checks on everything but the payload's bytes
/// (manifest, every entry and header byte, signatures and roles against the site's trust policy,
/// versions, environment), reading only headers and signature entries; then, only if all passed,
/// the payload in one front-to-back read in which every byte is hashed against its chunk digest
/// and written into the staging folder from the same buffer (verify-while-extract). Nothing of an
/// untrusted bundle is written, and the bytes written are the bytes hashed: no time-of-check /
/// time-of-use gap between a `verify` and a `tar -x`.
enum PayloadExtractor {
    /// What the first read established.
    struct Verified {
        var report: VerifyReport
        var bundle: VerifiedBundle
    }

    /// Verify's checks, without hashing the payload (that is done while extracting). Throws
    /// `verificationFailed` with the report when any check fails; nothing is written.
    static func verifyFirst(
        bundlePath: String, policy: TrustPolicy, now: Int64, probe: any SystemProbe,
        accepting: [UncheckedAcceptance] = []
    ) throws(InstallError) -> Verified {
        var report = VerifyReport(bundle: bundlePath, checks: [], time: now)
        let reader: BundleReader
        do {
            // Headers only: large files' data is skipped by seeking.
            reader = try BundleReader(path: bundlePath, blockSize: 64 << 10)
        } catch {
            if case .file(let e) = error { throw .file(e) }
            report.checks.append(Check(.manifest, status: .fail, details: [error.problem]))
            throw .verificationFailed(report)
        }
        report.recordManifest(of: reader)
        // A bundle as build wrote it: the payload's headers are compared without reading its data.
        _ = reader.skipCanonicalPayload()
        var signatures: [SignatureEntry] = []
        var recipients: [RecipientEntry] = []
        var attestations: [AttestationEntry] = []
        var sizeProblems: [String] = []
        do {
            while let entry = try reader.next() {
                switch entry.kind {
                case .unexpected: continue
                case .signature(let name):
                    signatures.append(
                        SignatureEntry(path: name.path, der: try reader.readAll(limit: SignedData.maxBytes)))
                case .recipient(let name):
                    recipients.append(
                        RecipientEntry(path: name.path, der: try reader.readAll(limit: EnvelopedKey.maxBytes)))
                case .attestation(let name):
                    attestations.append(
                        AttestationEntry(name: name, der: try reader.readAll(limit: SignedData.maxBytes)))
                case .payload(_, let expected):
                    if entry.tar.size != expected.storedSize {
                        sizeProblems.append(
                            "\(expected.path): \(entry.tar.size) bytes in the archive, \(expected.storedSize) in the manifest"
                        )
                    }
                }
            }
        } catch {
            // Recorded by the reader as a problem of the entries.
        }
        let entryProblems = reader.problems.map(\.description)
        report.checks.append(
            Check(
                .entries, status: entryProblems.isEmpty ? .pass : .fail, details: BundleVerifier.capped(entryProblems),
                evidence: [
                    (
                        "entries",
                        String(
                            reader.manifest.allFiles.count + signatures.count + recipients.count + attestations.count
                                + 1)
                    )
                ]))
        if !sizeProblems.isEmpty {
            report.checks.append(Check(.payload, status: .fail, details: BundleVerifier.capped(sizeProblems)))
        }
        let bundle = VerifiedBundle(
            path: bundlePath, manifest: reader.manifest, manifestBytes: reader.manifestBytes,
            manifestDigest: reader.manifestDigest, signatures: signatures, recipients: recipients,
            attestations: attestations)
        report.checks += AllOfVerifyChecks.standard(policy: policy, probe: probe, accepting: accepting).evaluate(
            bundle, now: now)
        if let unmatched = UnmatchedAcceptance.find(accepting, in: report.checks) {
            throw .unmatchedAcceptance(unmatched)
        }
        guard report.passed else { throw .verificationFailed(report) }
        if ReleaseName.isSafeVersion(reader.manifest.version) == false {
            throw .input(
                InputError(
                    .manifest,
                    Diagnostic(
                        file: bundlePath, location: .member(of: "manifest", pointer: "/version"),
                        problem: "\"\(Display.name(reader.manifest.version))\" cannot name a release folder",
                        hint: "A version to install has letters, digits and . _ + - only")))
        }
        return Verified(report: report, bundle: bundle)
    }

    /// Reads the bundle again, front to back, and writes every payload file into `staging` while
    /// its chunks are hashed on every core: small files by the reading thread from the archive
    /// reader's blocks (which the hasher copies into its batch), large files by the hashing
    /// workers, each chunk `pread` from the bundle, hashed and `pwrite`n from the same buffer
    /// (whole blocks with `O_DIRECT`, past the page cache). Throws `payloadMismatch` naming every
    /// file and chunk that differ (the caller removes `staging`); returns the check that passed.
    /// An encrypted file is decrypted on the way with `key` (`ChunkVerifier.verifyDecrypting`):
    /// the caller resolved and checked the key (`ContentKeySource`) before anything was written.
    static func extract(
        _ verified: Verified, into staging: Directory, hashWorkers: Int, key: ContentKey? = nil,
        keyOrigin: String? = nil, progress: ProgressHandler?
    ) throws(InstallError) -> Check {
        let path = verified.bundle.path
        let reader: BundleReader
        do {
            reader = try BundleReader(
                path: path, known: (verified.bundle.manifestBytes, verified.bundle.manifest))
        } catch {
            if case .file(let e) = error { throw .file(e) }
            throw .payloadMismatch(
                bundle: path, problems: ["the bundle changed since it was checked: \(error.problem)"])
        }
        guard reader.manifestDigest == verified.bundle.manifestDigest else {
            throw .payloadMismatch(
                bundle: path,
                problems: [
                    "the manifest changed since it was checked (SHA-256 \(reader.manifestDigest.hex), checked \(verified.bundle.manifestDigest.hex))"
                ])
        }
        // Counted, not flattened: `allFiles` of 20,000 files is a 3.8 MB copy (heaptrack), and
        // the reader holds one already.
        var fileCount = 0
        var totalBytes: Int64 = 0
        for component in reader.manifest.components {
            fileCount += component.files.count
            for file in component.files { totalBytes += file.size }
        }
        // Where each file goes in the release folder: its payload path, under its component's destination.
        let installed = reader.manifest.installedPaths
        let throttle = ProgressThrottle(progress, total: totalBytes)
        let hasher = ChunkVerifier(
            chunkSize: reader.manifest.chunkSize, workers: hashWorkers, progress: { throttle.update($0) })
        defer { hasher.waitUntilIdle() }
        let ciphers = key.map(CipherPool.init(key:))
        if reader.manifest.isEncrypted, ciphers == nil {
            throw .payloadMismatch(bundle: path, problems: ["the bundle is encrypted and no content key was given"])
        }
        var recipientIndex = 0
        var attestationIndex = 0
        var decrypted = 0
        let tree = StagingTree(root: staging)
        var problems: [String] = []
        var written = 0
        var bytes: Int64 = 0
        var signatureIndex = 0
        let halfway = max(1, fileCount / 2)
        do {
            reading: while let entry = try reader.next() {
                switch entry.kind {
                case .unexpected:
                    break reading
                // Each appended entry must be the very bytes the first read judged, in the same place.
                case .signature(let name):
                    let der = try reader.readAll(limit: SignedData.maxBytes)
                    let checked = verified.bundle.signatures.map { ($0.path, $0.der) }
                    if let changed = unchanged(name.path, der, "signature", checked, &signatureIndex) {
                        problems.append(changed)
                    }
                case .recipient(let name):
                    let der = try reader.readAll(limit: EnvelopedKey.maxBytes)
                    let checked = verified.bundle.recipients.map { ($0.path, $0.der) }
                    if let changed = unchanged(name.path, der, "recipient", checked, &recipientIndex) {
                        problems.append(changed)
                    }
                case .attestation(let name):
                    let der = try reader.readAll(limit: SignedData.maxBytes)
                    let checked = verified.bundle.attestations.map { ($0.path, $0.der) }
                    if let changed = unchanged(name.path, der, "attestation", checked, &attestationIndex) {
                        problems.append(changed)
                    }
                case .payload(let index, let expected):
                    guard entry.tar.size == expected.storedSize else {
                        problems.append(
                            "\(expected.path): \(entry.tar.size) bytes in the archive, \(expected.storedSize) in the manifest"
                        )
                        break reading
                    }
                    throttle.reading(expected.path)
                    let out = try tree.create(installed[index], mode: expected.mode == "0755" ? 0o755 : 0o644)
                    if expected.encryption != nil, let ciphers {
                        // Decrypted by the workers, chunk by chunk, straight from the bundle.
                        try out.setSize(expected.size)
                        if hasher.readsDirectly(size: expected.size) { out.writeDirectly() }
                        hasher.verifyDecrypting(
                            expected, ciphers: ciphers, in: reader.file, dataOffset: entry.tar.dataOffset, sink: out)
                        decrypted += 1
                    } else if hasher.readsDirectly(size: expected.size) {
                        try out.setSize(expected.size)
                        out.writeDirectly()
                        hasher.verify(
                            StoredData(expected, chunkSize: reader.manifest.chunkSize), in: reader.file,
                            dataOffset: entry.tar.dataOffset, sink: out)
                    } else if let problem = try hasher.verify(
                        StoredData(expected, chunkSize: reader.manifest.chunkSize),
                        read: { body in
                            try reader.readData { block in
                                try out.append(block)
                                try body(block)
                            }
                        })
                    {
                        problems.append(problem)
                    }
                    written += 1
                    bytes += expected.size
                    if written == halfway { Failpoint.reach("install-staging-half") }
                    // A mismatch already found: stop reading, the staging folder is discarded.
                    if !problems.isEmpty || hasher.hasProblems { break reading }
                }
            }
        } catch let error as FileSystemError where !error.isInput {
            throw .file(error)
        } catch let error as InstallError {
            throw error
        } catch {
            // The reader recorded why the archive cannot be read further.
        }
        problems += hasher.finish()
        if let failure = hasher.sinkFailure {
            throw (failure as? FileSystemError).map { InstallError.file($0) }
                ?? .file(FileSystemError(operation: "write", path: staging.path, code: EIO, isInput: false))
        }
        problems += reader.problems.map(\.description)
        if problems.isEmpty
            && (written != fileCount || signatureIndex != verified.bundle.signatures.count
                || recipientIndex != verified.bundle.recipients.count)
        {
            problems.append(
                "the bundle changed since it was checked: \(written) of \(fileCount) files, \(signatureIndex) of \(verified.bundle.signatures.count) signatures and \(recipientIndex) of \(verified.bundle.recipients.count) recipient entries read"
            )
        }
        guard problems.isEmpty else { throw .payloadMismatch(bundle: path, problems: problems) }
        return Check(
            .payload, status: .pass,
            evidence: [
                ("files", String(written)), ("bytes", String(bytes)),
                ("chunkSize", String(reader.manifest.chunkSize)), ("checked while extracting", "yes"),
            ]
                + (decrypted > 0
                    ? [
                        (
                            "decrypted while extracting",
                            "\(decrypted) files (AES-256-GCM tags and signed ciphertext chunk digests checked)"
                        ),
                        ("content key from", keyOrigin ?? "not said"),
                    ] : []))
    }
}

/// The problem when the appended entry `path` with `der`, the `index`-th of its kind in the
/// second read, is not the `index`-th entry the first read checked; nil when it is. Advances `index`.
private func unchanged(
    _ path: String, _ der: [UInt8], _ kind: String, _ checked: [(path: String, der: [UInt8])], _ index: inout Int
) -> String? {
    defer { index += 1 }
    let first = index < checked.count ? checked[index] : nil
    return first?.path == path && first?.der == der ? nil : "\(kind) entry \(path) changed since it was checked"
}

/// The staging folder being filled: folders created as files need them (mode 0755), each file
/// created new (`O_EXCL`, `O_NOFOLLOW`) relative to its folder's descriptor, with the manifest's
/// mode. The folder of the previous file is kept open: a manifest lists a folder's files together.
final class StagingTree {
    let root: Directory
    private var lastParent: (path: Substring, folder: Directory)?

    init(root: Directory) { self.root = root }

    /// Creates the file at `relative` (a canonical release-relative path: where the manifest
    /// installs the file).
    func create(_ relative: String, mode: mode_t) throws(InstallError) -> OutputDescriptor {
        let slash = relative.lastIndex(of: "/")
        let name = slash.map { String(relative[relative.index(after: $0)...]) } ?? relative
        let parent = slash.map { relative[..<$0] } ?? ""
        let folder: Directory
        do {
            if parent.isEmpty {
                folder = root
            } else if let last = lastParent, last.path == parent {
                folder = last.folder
            } else {
                var f = root
                for component in parent.split(separator: "/") { f = try f.folder(String(component), create: true) }
                lastParent = (parent, f)
                folder = f
            }
            return try folder.newFile(name, mode: mode)
        } catch {
            throw .file(error)
        }
    }
}
