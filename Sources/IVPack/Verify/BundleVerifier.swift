import Foundation

/// Verifies a bundle on site in one front-to-back pass with bounded memory: the manifest, every
/// entry against it, every byte against its chunk digests, every signature and its chain against
/// the site's trust policy, the required roles, the version recorded in the manifest and the
/// policy's minimum version.
public enum BundleVerifier {
    /// Most problems listed per check before the rest are counted only.
    static let maxDetails = 50

    /// Runs every check. Throws only when the bundle cannot be opened at all.
    /// `probe` reads the target machine for the manifest's environment requirements (clause 4.1.1).
    /// `hashWorkers` threads check chunk digests (default: one per processor); the result does not
    /// depend on it.
    public static func verify(bundlePath: String, policy: TrustPolicy, now: Int64,
                              probe: any SystemProbe = LiveSystem(),
                              hashWorkers: Int = ProcessInfo.processInfo.activeProcessorCount,
                              progress: ProgressHandler? = nil) throws -> VerifyReport {
        var report = VerifyReport(bundle: bundlePath, checks: [], time: now)
        let reader: TarReader
        let bundle: InputFile
        do {
            bundle = try InputFile(path: bundlePath)
            reader = try TarReader(file: bundle)
        } catch let error as ArchiveError {
            report.checks.append(Check(id: "manifest", title: "Manifest is the first entry and is valid", status: .fail,
                                       details: ["the file is not a readable tar archive: \(error.reason)"]))
            return report
        }

        // 1. The manifest, first.
        let manifestBytes: [UInt8]
        let manifest: Manifest
        do {
            guard let first = try reader.next() else {
                report.checks.append(Check(id: "manifest", title: "Manifest is the first entry and is valid", status: .fail,
                                           details: ["the archive is empty"]))
                return report
            }
            guard first.path == Manifest.entryPath, first.kind == .regular else {
                report.checks.append(Check(id: "manifest", title: "Manifest is the first entry and is valid", status: .fail,
                                           details: ["the first entry is \"\(Display.name(bytes: first.rawPath))\", not \(Manifest.entryPath)"]))
                return report
            }
            manifestBytes = try reader.readAll(limit: Manifest.maxBytes)
            manifest = try Manifest.decode(manifestBytes, source: bundlePath)
        } catch let error as IVPackError {
            report.checks.append(Check(id: "manifest", title: "Manifest is the first entry and is valid", status: .fail, details: ["\(error)"]))
            return report
        }
        let manifestDigest = SHA256Digest.of(manifestBytes)
        report.manifestDigest = manifestDigest
        report.product = manifest.product.name
        report.version = manifest.version
        report.checks.append(Check(id: "manifest", title: "Manifest is the first entry and is valid", status: .pass,
                                   evidence: [("sha256", manifestDigest.hex), ("product", manifest.product.name), ("version", manifest.version),
                                              ("files", String(manifest.allFiles.count))]))

        // 2. Entries and payload, streamed.
        var entryProblems: [String] = []
        var digestProblems: [String] = []
        var signatureEntries: [(path: String, der: [UInt8])] = []
        var payloadBytes: Int64 = 0
        let files = manifest.allFiles
        var indexByPath: [String: Int] = [:]
        for (i, f) in files.enumerated() { indexByPath[f.path] = i }
        var seen = [Bool](repeating: false, count: files.count)
        var lastIndex = -1
        let throttle = ProgressThrottle(progress, total: files.reduce(Int64(0)) { $0 + $1.size })
        let hasher = ChunkVerifier(chunkSize: manifest.chunkSize, workers: hashWorkers, progress: { throttle.update($0) })
        defer { hasher.waitUntilIdle() }
        var truncated = false
        do {
            while let entry = try reader.next() {
                // Messages are made only when needed: a bundle may have tens of thousands of entries.
                var at: String { "entry at byte \(entry.headerOffset)" }
                guard let path = entry.path else {
                    entryProblems.append("\(at) \"\(Display.name(bytes: entry.rawPath))\": the name is not valid UTF-8 or contains NUL")
                    continue
                }
                // Names from the bundle are shown escaped and cut: they may hold terminal controls.
                // What kind of entry it is comes first: no link, device or folder is acceptable.
                var shown: String { Display.name(path) }
                switch entry.kind {
                case .regular: break
                case .symbolicLink, .hardLink:
                    entryProblems.append("entry \"\(shown)\": a link to \"\(Display.name(entry.linkTarget ?? ""))\"; bundles hold regular files only")
                    continue
                case .directory:
                    entryProblems.append("entry \"\(shown)\": a directory entry; bundles hold regular files only")
                    continue
                case .other(let what):
                    entryProblems.append("entry \"\(shown)\": a \(what); bundles hold regular files only")
                    continue
                }
                if entry.isSparse {
                    entryProblems.append("entry \"\(shown)\": a sparse file; bundles hold plain regular files only")
                    continue
                }
                guard RelativePath.isCanonical(path) else {
                    let why: String
                    switch RelativePath.normalize(path) {
                    case .failure(let problem): why = "\(problem)"
                    case .success(let normal) where path.split(separator: "/").contains(".."):
                        why = "the path goes through '..' (it would resolve to \"\(Display.name(normal))\")"
                    case .success(let normal): why = "the path is not in normal form (it would be \"\(Display.name(normal))\")"
                    }
                    entryProblems.append("\(at) \"\(shown)\": unsafe name: \(why); bundle entries are plain relative paths")
                    continue
                }
                if path.hasPrefix(SignatureEntryName.prefix) {
                    guard SignatureEntryName.parse(path) != nil else {
                        entryProblems.append("entry \"\(shown)\": not a valid signature entry name (NNN-ROLE.p7s)")
                        continue
                    }
                    if signatureEntries.contains(where: { $0.path == path }) {
                        entryProblems.append("entry \"\(shown)\" appears twice")
                        continue
                    }
                    let number = SignatureEntryName.parse(path)!.index
                    if signatureEntries.contains(where: { SignatureEntryName.parse($0.path)?.index == number }) {
                        entryProblems.append("entry \"\(shown)\" reuses signature number \(number)")
                        continue
                    }
                    signatureEntries.append((path, try reader.readAll(limit: SignedData.maxBytes)))
                    continue
                }
                guard let index = indexByPath[path] else {
                    entryProblems.append("entry \"\(shown)\" is not in the manifest")
                    continue
                }
                if seen[index] {
                    entryProblems.append("entry \"\(shown)\" appears twice")
                    continue
                }
                if !signatureEntries.isEmpty {
                    entryProblems.append("entry \"\(shown)\" comes after the signatures; the bundle was altered after signing")
                }
                if index < lastIndex {
                    entryProblems.append("entry \"\(shown)\" is out of order (the manifest lists it before \"\(files[lastIndex].path)\")")
                }
                lastIndex = max(lastIndex, index)
                seen[index] = true
                let expected = files[index]
                if entry.size != expected.size {
                    digestProblems.append("\(path): \(entry.size) bytes in the archive, \(expected.size) in the manifest")
                    continue
                }
                if hasher.readsDirectly(size: expected.size) {
                    // The reader seeks over the data; workers read and hash it in place.
                    hasher.verify(expected, in: bundle, dataOffset: entry.dataOffset)
                } else if let problem = try hasher.verify(expected, read: { body in try reader.readData(body) }) {
                    digestProblems.append(problem)
                }
                payloadBytes += expected.size
            }
        } catch let error as IVPackError {
            truncated = true
            entryProblems.append("the archive cannot be read to its end: \(error)")
        }
        if !truncated, let end = reader.endOfArchiveOffset {
            if !reader.endMarkerIsPresent() {
                entryProblems.append("the archive ends at byte \(end) without an end-of-archive marker; the bundle was cut short")
            }
        }
        digestProblems += hasher.finish()
        throttle.finish()
        for (i, f) in files.enumerated() where !seen[i] {
            entryProblems.append("\(f.path) is in the manifest but not in the archive")
        }
        report.checks.append(Check(id: "entries", title: "Every entry is in the manifest, once, in order, a regular file with a safe name",
                                   status: entryProblems.isEmpty ? .pass : .fail, details: Self.capped(entryProblems),
                                   evidence: [("entries", String(files.count + signatureEntries.count + 1))]))
        report.checks.append(Check(id: "payload", title: "Every file's size and the SHA-256 of each of its chunks match the manifest",
                                   status: digestProblems.isEmpty && !truncated ? .pass : .fail, details: Self.capped(digestProblems),
                                   evidence: [("files", String(seen.filter { $0 }.count)), ("bytes", String(payloadBytes)),
                                              ("chunkSize", String(manifest.chunkSize))]))
        if !truncated, let end = reader.endOfArchiveOffset, case let size = bundle.size, size > end + 1024 {
            report.checks.append(Check(id: "archive.trailing", title: "Nothing follows the end-of-archive marker", status: .warn,
                                       details: ["\(size - end - 1024) bytes follow the end-of-archive marker (an interrupted sign leaves this; the next sign removes it); tar does not read them"]))
        }

        // 3. Signatures, then the roles they prove.
        // Valid signatures: role → (signer subject, certificate fingerprint).
        var proven: [String: [(signer: String, certificate: SHA256Digest)]] = [:]
        var developmentRootSeen = false
        for (path, der) in signatureEntries {
            let outcome = SignatureCheck.evaluate(path: path, der: der, manifestBytes: manifestBytes, policy: policy, now: now)
            report.checks.append(outcome.check)
            if outcome.check.status != .fail, let role = outcome.role, let certificate = outcome.certificate {
                proven[role, default: []].append((outcome.signer ?? path, certificate))
            }
            developmentRootSeen = developmentRootSeen || outcome.developmentRoot
        }
        report.checks.append(Self.requiredRoles(policy.requiredRoles, proven: proven, signed: !signatureEntries.isEmpty))
        if policy.development || developmentRootSeen {
            report.checks.append(Check(
                id: "trust.development", title: "Trust policy trusts production roots only", status: .warn,
                details: ["THIS TRUST POLICY TRUSTS A DEVELOPMENT PKI (\(policy.file)). A bundle verified with it proves nothing about a real release; do not use it for a clinical installation."]))
        }

        // 4. What the manifest records about its version, and the site's minimum.
        report.checks.append(VersionChecks.consistency(manifest))
        report.checks.append(VersionChecks.minimum(manifest, policy: policy))

        // 5. The target environment against the requirements the vendor declared.
        report.checks += EnvironmentCheck.evaluate(requirements: manifest.requirements, probe: probe)
        return report
    }

    /// Every required role needs a valid signature, and distinct required roles need distinct
    /// certificates: two approvals by one person are one approval (clause 6.6.1 f).
    static func requiredRoles(_ required: [String], proven: [String: [(signer: String, certificate: SHA256Digest)]], signed: Bool) -> Check {
        var problems: [String] = []
        var used: [SHA256Digest: String] = [:]
        var evidence: [(key: String, value: String)] = []
        for role in required {
            guard let candidates = proven[role], !candidates.isEmpty else {
                problems.append("required role \"\(role)\" has no valid signature" + (signed ? "" : " (the bundle is not signed)"))
                evidence.append((role, "missing"))
                continue
            }
            if let free = candidates.first(where: { used[$0.certificate] == nil }) {
                used[free.certificate] = role
                evidence.append((role, free.signer))
            } else {
                problems.append("required role \"\(role)\" is signed only by the certificate that already stands for \"\(used[candidates[0].certificate] ?? "")\"; each required role needs its own signer")
                evidence.append((role, "same certificate as \(used[candidates[0].certificate] ?? "")"))
            }
        }
        return Check(id: "roles", title: "Every role the trust policy requires has a valid signature by its own certificate",
                     status: problems.isEmpty ? .pass : .fail, details: problems, evidence: evidence)
    }

    static func capped(_ lines: [String]) -> [String] {
        lines.count <= maxDetails ? lines : Array(lines.prefix(maxDetails)) + ["… and \(lines.count - maxDetails) more"]
    }
}

/// Checks of what the manifest records about versions.
enum VersionChecks {
    /// Every piece of version evidence names the manifest's version; every versioned kind has evidence.
    static func consistency(_ m: Manifest) -> Check {
        var problems: [String] = []
        for c in m.components {
            for e in c.versionEvidence where e.found != m.version {
                problems.append("component \(c.name): \(e.file) (\(e.location)) records \(e.found), the bundle's version is \(m.version)")
            }
            switch c.kind {
            case .code, .model, .document:
                if c.versionEvidence.isEmpty { problems.append("component \(c.name) (\(c.kind.rawValue)) records no version evidence") }
            case .dependencyManifest, .file: break
            }
            if c.kind == .code && !m.provenance.git.contains(where: { $0.component == c.name }) {
                problems.append("component \(c.name) (code) records no git commit and tag")
            }
        }
        for g in m.provenance.git where g.tag.contains(m.version) == false {
            problems.append("component \(g.component): tag \(g.tag) does not carry the version \(m.version)")
        }
        if !m.components.contains(where: { $0.name == ReleaseNotesComponent.name && $0.files.contains { $0.path == m.releaseNotes } }) {
            problems.append("the release notes \(m.releaseNotes) are not the file of the release-notes component")
        }
        return Check(id: "version.consistency", title: "Every component carries the bundle's version (as recorded at build)",
                     status: problems.isEmpty ? .pass : .fail, details: problems,
                     evidence: [("version", m.version)] + m.provenance.git.map { ("git \($0.component)", "\($0.tag) @ \($0.commit)") })
    }

    /// The policy's lowest acceptable version for this product (against downgrade).
    static func minimum(_ m: Manifest, policy: TrustPolicy) -> Check {
        let title = "Version is not below the site's minimum for the product"
        guard let minimum = policy.minimumVersions[m.product.name] else {
            return Check(id: "version.minimum", title: title, status: .pass,
                         details: ["the trust policy sets no minimum version for \(m.product.name)"], evidence: [("version", m.version)])
        }
        guard let order = VersionOrder.compare(m.version, minimum) else {
            return Check(id: "version.minimum", title: title, status: .fail,
                         details: ["the bundle's version \(m.version) cannot be compared with the minimum \(minimum)"])
        }
        return Check(id: "version.minimum", title: title, status: order < 0 ? .fail : .pass,
                     details: order < 0 ? ["version \(m.version) is below the site's minimum \(minimum): a downgrade is refused"] : [],
                     evidence: [("version", m.version), ("minimum", minimum)])
    }
}
