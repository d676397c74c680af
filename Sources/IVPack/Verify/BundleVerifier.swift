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
        
        // 1. The manifest, first (the reader refuses anything else).
        let reader: BundleReader
        do {
            reader = try BundleReader(path: bundlePath)
        } catch {
            if case .file(let e) = error { throw e }
            report.checks.append(Check(.manifest, status: .fail, details: [error.problem]))
            return report
        }
        let manifest = reader.manifest
        let manifestBytes = reader.manifestBytes
        let manifestDigest = reader.manifestDigest
        report.manifestDigest = manifestDigest
        report.product = manifest.product.name
        report.version = manifest.version
        report.checks.append(Check(.manifest, status: .pass,
                                   evidence: [("sha256", manifestDigest.hex), ("product", manifest.product.name), ("version", manifest.version),
                                              ("files", String(manifest.allFiles.count))]))

        // 2. Entries and payload, streamed: the reader judges names, order and header bytes; the
        // payload's bytes are hashed here.
        var digestProblems: [String] = []
        var signatureEntries: [(path: String, der: [UInt8])] = []
        var payloadBytes: Int64 = 0
        var payloadFiles = 0
        let files = manifest.allFiles
        let throttle = ProgressThrottle(progress, total: files.reduce(Int64(0)) { $0 + $1.size })
        let hasher = ChunkVerifier(chunkSize: manifest.chunkSize, workers: hashWorkers, progress: { throttle.update($0) })
        defer { hasher.waitUntilIdle() }
        do {
            while let entry = try reader.next() {
                switch entry.kind {
                case .unexpected:
                    continue
                case .signature(let name):
                    signatureEntries.append((name.path, try reader.readAll(limit: SignedData.maxBytes)))
                case .payload(_, let expected):
                    payloadFiles += 1
                    if entry.tar.size != expected.size {
                        digestProblems.append("\(expected.path): \(entry.tar.size) bytes in the archive, \(expected.size) in the manifest")
                        continue
                    }
                    if hasher.readsDirectly(size: expected.size) {
                        // The reader seeks over the data; workers read and hash it in place.
                        hasher.verify(expected, in: reader.file, dataOffset: entry.tar.dataOffset)
                    } else if let problem = try hasher.verify(expected, read: { body in try reader.readData(body) }) {
                        digestProblems.append(problem)
                    }
                    payloadBytes += expected.size
                }
            }
        } catch {
            // Recorded by the reader as a problem of the entries.
        }
        digestProblems += hasher.finish()
        throttle.finish()
        let entryProblems = reader.problems.map(\.description)
        report.checks.append(Check(.entries, status: entryProblems.isEmpty ? .pass : .fail, details: Self.capped(entryProblems),
                                   evidence: [("entries", String(files.count + signatureEntries.count + 1))]))
        report.checks.append(Check(.payload, status: digestProblems.isEmpty && !reader.unreadable ? .pass : .fail, details: Self.capped(digestProblems),
                                   evidence: [("files", String(payloadFiles)), ("bytes", String(payloadBytes)),
                                              ("chunkSize", String(manifest.chunkSize))]))

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
                .trustDevelopment, status: .warn,
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
        return Check(.roles, status: problems.isEmpty ? .pass : .fail, details: problems, evidence: evidence)
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
        return Check(.versionConsistency, status: problems.isEmpty ? .pass : .fail, details: problems,
                     evidence: [("version", m.version)] + m.provenance.git.map { ("git \($0.component)", "\($0.tag) @ \($0.commit)") })
    }

    /// The policy's lowest acceptable version for this product (against downgrade).
    static func minimum(_ m: Manifest, policy: TrustPolicy) -> Check {
        guard let minimum = policy.minimumVersions[m.product.name] else {
            return Check(.versionMinimum, status: .pass,
                         details: ["the trust policy sets no minimum version for \(m.product.name)"], evidence: [("version", m.version)])
        }
        guard let order = VersionOrder.compare(m.version, minimum) else {
            return Check(.versionMinimum, status: .fail,
                         details: ["the bundle's version \(m.version) cannot be compared with the minimum \(minimum)"])
        }
        return Check(.versionMinimum, status: order < 0 ? .fail : .pass,
                     details: order < 0 ? ["version \(m.version) is below the site's minimum \(minimum): a downgrade is refused"] : [],
                     evidence: [("version", m.version), ("minimum", minimum)])
    }
}
