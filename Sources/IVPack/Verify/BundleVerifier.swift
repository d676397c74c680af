import Foundation

/// Verifies a bundle on site in one front-to-back pass with bounded memory: the manifest, every
/// entry and header byte, every payload byte against its chunk digests (the streaming pass), and
/// then the composed checks over what was read: signatures and the roles they prove, the version
/// recorded in the manifest, the site's minimum version, the environment, and the licence when a
/// `LicenseAuthority` is given.
public enum BundleVerifier {
    /// Most problems listed per check before the rest are counted only.
    static let maxDetails = 50

    /// Runs every check. Throws only when the bundle cannot be opened at all.
    /// `probe` reads the target machine for the manifest's environment requirements (clause 4.1.1).
    /// `hashWorkers` threads check chunk digests (default: one per processor); the result does not
    /// depend on it.
    public static func verify(
        bundlePath: String, policy: TrustPolicy, now: Int64,
        probe: any SystemProbe = LiveSystem(),
        hashWorkers: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: ProgressHandler? = nil
    ) throws -> VerifyReport {
        var (report, bundle) = try read(bundlePath: bundlePath, now: now, hashWorkers: hashWorkers, progress: progress)
        if let bundle {
            report.checks += AllOfVerifyChecks.standard(policy: policy, probe: probe).evaluate(bundle, now: now)
        }
        return report
    }

    /// Runs every check, and the licence check last: `license` is asked only when no other check
    /// failed, so a bundle that fails verification never takes a licence seat (a failed check
    /// makes the `license` check "not run"). Throws only when the bundle cannot be opened at all.
    public static func verify(
        bundlePath: String, policy: TrustPolicy, now: Int64,
        probe: any SystemProbe = LiveSystem(), license: (any LicenseAuthority)?,
        accepting: [UncheckedAcceptance] = [],
        hashWorkers: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: ProgressHandler? = nil
    ) async throws -> VerifyReport {
        var (report, bundle) = try read(bundlePath: bundlePath, now: now, hashWorkers: hashWorkers, progress: progress)
        guard let bundle else {
            if let license { report.checks.append(licenseNotAsked(license, failed: report.checks)) }
            return report
        }
        report.checks += AllOfVerifyChecks.standard(policy: policy, probe: probe, accepting: accepting)
            .evaluate(bundle, now: now)
        guard let license else { return report }
        // Every other check has been judged: only a bundle that passed them may take a seat.
        if report.checks.contains(where: { $0.status == .fail }) {
            report.checks.append(licenseNotAsked(license, failed: report.checks))
        } else {
            let subject = LicenseSubject(
                product: bundle.manifest.product.name, version: bundle.manifest.version,
                manifestSHA256: bundle.manifestDigest)
            report.checks += LicenseRequirement(title: license.checkTitle, decision: await license.decide(subject))
                .evaluate(bundle, now: now)
        }
        return report
    }

    /// The `license` check when the server was not asked because `failed` has failed checks:
    /// "not run" (a warning, never a pass; the verdict is FAIL through the failed checks).
    static func licenseNotAsked(_ license: any LicenseAuthority, failed checks: [Check]) -> Check {
        let failed = checks.filter { $0.status == .fail }.map(\.id.rawValue)
        return Check(
            .license, title: license.checkTitle, status: .warn,
            details: [
                "not run: the licence was not asked for because \(failed.joined(separator: ", ")) failed; a bundle that fails verification takes no licence seat. Fix what failed and verify again."
            ],
            evidence: [("asked", "no")])
    }

    /// The manifest and the streaming pass: the report so far, and what the composed checks judge
    /// (nil when the manifest cannot be read, and so nothing else can be checked).
    static func read(
        bundlePath: String, now: Int64, hashWorkers: Int,
        progress: ProgressHandler?
    ) throws -> (VerifyReport, VerifiedBundle?) {
        var report = VerifyReport(bundle: bundlePath, checks: [], time: now)
        // 1. The manifest, first (the reader refuses anything else).
        let reader: BundleReader
        do {
            reader = try BundleReader(path: bundlePath)
        } catch {
            if case .file(let e) = error { throw e }
            report.checks.append(Check(.manifest, status: .fail, details: [error.problem]))
            return (report, nil)
        }
        report.recordManifest(of: reader)
        // 2. Entries and payload, streamed.
        let pass = StreamingPass.run(reader, hashWorkers: hashWorkers, progress: progress)
        report.checks += pass.checks
        // 3. Everything that judges what was read.
        let bundle = VerifiedBundle(
            path: bundlePath, manifest: reader.manifest, manifestBytes: reader.manifestBytes,
            manifestDigest: reader.manifestDigest, signatures: pass.signatures, recipients: pass.recipients,
            attestations: pass.attestations, readToEnd: reader.endOfArchiveOffset != nil)
        return (report, bundle)
    }

    static func capped(_ lines: [String]) -> [String] {
        lines.count <= maxDetails ? lines : Array(lines.prefix(maxDetails)) + ["… and \(lines.count - maxDetails) more"]
    }
}

/// The one pass over the bundle's entries: the reader judges names, order and header bytes
/// (`entries`), the payload's bytes are hashed against their chunk digests (`payload`), and the
/// signature entries are collected for the checks that follow.
enum StreamingPass {
    struct Result {
        var checks: [Check]
        var signatures: [SignatureEntry]
        var recipients: [RecipientEntry]
        var attestations: [AttestationEntry]
    }

    static func run(_ reader: BundleReader, hashWorkers: Int, progress: ProgressHandler?) -> Result {
        var digestProblems: [String] = []
        var signatures: [SignatureEntry] = []
        var recipients: [RecipientEntry] = []
        var attestations: [AttestationEntry] = []
        var payloadBytes: Int64 = 0
        var payloadFiles = 0
        let files = reader.manifest.allFiles
        let throttle = ProgressThrottle(progress, total: files.reduce(Int64(0)) { $0 + $1.storedSize })
        let hasher = ChunkVerifier(
            chunkSize: reader.manifest.chunkSize, workers: hashWorkers, progress: { throttle.update($0) })
        defer { hasher.waitUntilIdle() }
        do {
            while let entry = try reader.next() {
                switch entry.kind {
                case .unexpected:
                    continue
                case .signature(let name):
                    signatures.append(
                        SignatureEntry(path: name.path, der: try reader.readAll(limit: SignedData.maxBytes)))
                case .recipient(let name):
                    recipients.append(
                        RecipientEntry(path: name.path, der: try reader.readAll(limit: EnvelopedKey.maxBytes)))
                case .attestation(let name):
                    attestations.append(
                        AttestationEntry(name: name, der: try reader.readAll(limit: SignedData.maxBytes)))
                case .payload(_, let file):
                    payloadFiles += 1
                    throttle.reading(file.path)
                    // An encrypted file is checked as stored: its ciphertext chunks, without the key.
                    let expected = StoredData(file, chunkSize: reader.manifest.chunkSize)
                    if entry.tar.size != expected.size {
                        digestProblems.append(
                            "\(expected.path): \(entry.tar.size) bytes in the archive, \(expected.size) in the manifest"
                        )
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
            // The reader records an archive that cannot be read to its end as a problem of the entries.
        }
        digestProblems += hasher.finish()
        throttle.finish()
        let entryProblems = reader.problems.map(\.description)
        return Result(
            checks: [
                Check(
                    .entries, status: entryProblems.isEmpty ? .pass : .fail,
                    details: BundleVerifier.capped(entryProblems),
                    evidence: [
                        ("entries", String(files.count + signatures.count + recipients.count + attestations.count + 1))
                    ]),
                Check(
                    .payload, status: digestProblems.isEmpty && !reader.unreadable ? .pass : .fail,
                    details: BundleVerifier.capped(digestProblems),
                    evidence: [
                        ("files", String(payloadFiles)), ("bytes", String(payloadBytes)),
                        ("chunkSize", String(reader.manifest.chunkSize)),
                    ]
                        + (reader.manifest.isEncrypted
                            ? [("encrypted files", "checked as stored (ciphertext chunk digests), without the key")]
                            : [])),
            ], signatures: signatures, recipients: recipients, attestations: attestations)
    }
}

/// A signature entry's name and bytes, as read from the bundle.
public struct SignatureEntry: Sendable, Equatable {
    public var path: String
    public var der: [UInt8]
}

/// An attestation entry's name and bytes (a CMS SignedData carrying its statement), as read from the bundle.
public struct AttestationEntry: Sendable, Equatable {
    public var name: AttestationEntryName
    public var der: [UInt8]
    public var path: String { name.path }
    public init(name: AttestationEntryName, der: [UInt8]) {
        self.name = name
        self.der = der
    }
}

/// A recipient entry's name and bytes (a CMS AuthEnvelopedData), as read from the bundle.
public struct RecipientEntry: Sendable, Equatable {
    public var path: String
    public var der: [UInt8]
}

/// What the checks after the streaming pass judge: the manifest and the signature entries.
public struct VerifiedBundle: Sendable {
    public var path: String
    public var manifest: Manifest
    /// What every signature covers.
    public var manifestBytes: [UInt8]
    public var manifestDigest: SHA256Digest
    /// Signature entries in bundle order (only well-named ones: the reader refuses the rest).
    public var signatures: [SignatureEntry]
    /// Recipient entries in bundle order (only in an encrypted bundle).
    public var recipients: [RecipientEntry] = []
    /// Attestation entries in bundle order (signed statements about the manifest: the gate's verdict, overrides).
    public var attestations: [AttestationEntry] = []
    /// Whether the archive was read to its end-of-archive marker (false: cut short or damaged, so
    /// entries after the break, signatures among them, were never seen).
    public var readToEnd = true
}

/// One check of verify after the streaming pass: a small value that never throws and returns
/// its results (one check, or a family such as `signature.NNN`), the way the release gate's
/// rules are composed (`GateRule`, `AllOfGateRules`).
public protocol VerifyCheck: Sendable {
    /// The checks this one can report (families by their first member's prefix).
    var ids: [CheckID] { get }
    func evaluate(_ bundle: VerifiedBundle, now: Int64) -> [Check]
}

/// Every check of every member, in order.
public struct AllOfVerifyChecks: VerifyCheck {
    public var checks: [any VerifyCheck]
    public init(_ checks: [any VerifyCheck]) { self.checks = checks }
    public var ids: [CheckID] { checks.flatMap(\.ids) }
    public func evaluate(_ bundle: VerifiedBundle, now: Int64) -> [Check] {
        checks.flatMap { $0.evaluate(bundle, now: now) }
    }

    /// What `ivpack verify` runs after the streaming pass, in report order; the licence check,
    /// when there is one, last.
    public static func standard(
        policy: TrustPolicy, probe: any SystemProbe, license: LicenseRequirement? = nil,
        accepting: [UncheckedAcceptance] = []
    ) -> AllOfVerifyChecks {
        AllOfVerifyChecks(
            [
                SignaturesAndRoles(policy: policy), GateAttestationCheck(policy: policy), ContentEncryption(),
                RecordedVersionConsistency(),
                MinimumVersion(policy: policy),
                TargetEnvironment(probe: probe, accepting: accepting),
            ] + (license.map { [$0] } ?? []))
    }
}

/// Each signature (`signature.NNN`) against the manifest and the trust policy, the roles they
/// prove (`roles`), and a warning when the trust is a development PKI's (`trust.development`).
public struct SignaturesAndRoles: VerifyCheck {
    public var policy: TrustPolicy
    public init(policy: TrustPolicy) { self.policy = policy }
    public var ids: [CheckID] { [.signature(1), .roles, .trustCRLFreshness, .trustDevelopment] }

    public func evaluate(_ bundle: VerifiedBundle, now: Int64) -> [Check] {
        var out: [Check] = []
        // Valid signatures: role → (signer subject, certificate fingerprint).
        var proven: [String: [(signer: String, certificate: SHA256Digest)]] = [:]
        var developmentRootSeen = false
        var crlFreshness: [CRLFreshness] = []
        for entry in bundle.signatures {
            let outcome = SignatureCheck.evaluate(
                path: entry.path, der: entry.der, manifestBytes: bundle.manifestBytes, policy: policy, now: now)
            out.append(outcome.check)
            if outcome.check.status != .fail, let role = outcome.role, let certificate = outcome.certificate {
                proven[role, default: []].append((outcome.signer ?? entry.path, certificate))
            }
            developmentRootSeen = developmentRootSeen || outcome.developmentRoot
            crlFreshness += outcome.crlFreshness
        }
        out.append(
            Self.requiredRoles(
                policy.requiredRoles, proven: proven, signed: !bundle.signatures.isEmpty,
                readToEnd: bundle.readToEnd))
        if let freshness = policy.crlFreshnessCheck(crlFreshness) { out.append(freshness) }
        if policy.development || developmentRootSeen {
            out.append(
                Check(
                    .trustDevelopment, title: "Trust policy trusts a DEVELOPMENT PKI: not for clinical use",
                    status: .warn,
                    details: [
                        "THIS TRUST POLICY TRUSTS A DEVELOPMENT PKI (\(policy.file)). A bundle verified with it proves nothing about a real release; do not use it for a clinical installation."
                    ]))
        }
        return out
    }

    /// Every required role needs a valid signature, and distinct required roles need distinct
    /// certificates: two approvals by one person are one approval (clause 6.6.1 f).
    static func requiredRoles(
        _ required: [String], proven: [String: [(signer: String, certificate: SHA256Digest)]], signed: Bool,
        readToEnd: Bool = true
    ) -> Check {
        var problems: [String] = []
        var used: [SHA256Digest: String] = [:]
        var evidence: [(key: String, value: String)] = []
        for role in required {
            guard let candidates = proven[role], !candidates.isEmpty else {
                problems.append(
                    "required role \"\(role)\" has no valid signature"
                        + (signed
                            ? ""
                            : readToEnd
                                ? " (the bundle is not signed)"
                                : " (no signature was read: the bundle could not be read to its end, see entries)"))
                evidence.append((role, "missing"))
                continue
            }
            if let free = candidates.first(where: { used[$0.certificate] == nil }) {
                used[free.certificate] = role
                evidence.append((role, free.signer))
            } else {
                problems.append(
                    "required role \"\(role)\" is signed only by the certificate that already stands for \"\(used[candidates[0].certificate] ?? "")\"; each required role needs its own signer"
                )
                evidence.append((role, "same certificate as \(used[candidates[0].certificate] ?? "")"))
            }
        }
        return Check(.roles, status: problems.isEmpty ? .pass : .fail, details: problems, evidence: evidence)
    }

}

/// Every piece of version evidence names the manifest's version (`version.consistency`).
public struct RecordedVersionConsistency: VerifyCheck {
    public init() {}
    public var ids: [CheckID] { [.versionConsistency] }
    public func evaluate(_ bundle: VerifiedBundle, now: Int64) -> [Check] {
        [VersionChecks.consistency(bundle.manifest)]
    }
}

/// The version is not below the site's minimum for the product (`version.minimum`).
public struct MinimumVersion: VerifyCheck {
    public var policy: TrustPolicy
    public init(policy: TrustPolicy) { self.policy = policy }
    public var ids: [CheckID] { [.versionMinimum] }
    public func evaluate(_ bundle: VerifiedBundle, now: Int64) -> [Check] {
        [VersionChecks.minimum(bundle.manifest, policy: policy)]
    }
}

/// The target machine against the requirements the vendor declared (`environment.*`, clause 4.1.1).
public struct TargetEnvironment: VerifyCheck {
    public var probe: any SystemProbe
    /// Requirements the site accepts unchecked, with the reason.
    public var accepting: [UncheckedAcceptance]
    public init(probe: any SystemProbe, accepting: [UncheckedAcceptance] = []) {
        self.probe = probe
        self.accepting = accepting
    }
    public var ids: [CheckID] { [.environment] }
    public func evaluate(_ bundle: VerifiedBundle, now: Int64) -> [Check] {
        EnvironmentCheck.evaluate(requirements: bundle.manifest.requirements, probe: probe, accepting: accepting)
    }
}

/// The installation is licensed for this site (`license`): a `LicenseAuthority`'s decision for the
/// bundle, as a check. The licence server's, online, or a signed offline licence file's.
public struct LicenseRequirement: VerifyCheck {
    /// The check's title: how the licence is established.
    public var title: String
    /// The authority's decision.
    public var decision: LicenseDecision

    /// The check reporting `decision` under `title`.
    public init(title: String, decision: LicenseDecision) {
        self.title = title
        self.decision = decision
    }

    public var ids: [CheckID] { [.license] }
    public func evaluate(_ bundle: VerifiedBundle, now: Int64) -> [Check] { [check] }

    /// The `license` check.
    public var check: Check {
        switch decision {
        case .licensed(let evidence):
            return Check(.license, title: title, status: .pass, evidence: evidence)
        case .refused(let details, let evidence):
            return Check(.license, title: title, status: .fail, details: details, evidence: evidence)
        }
    }
}

/// Checks of what the manifest records about versions.
enum VersionChecks {
    /// Every piece of version evidence names the manifest's version; every versioned kind has evidence.
    static func consistency(_ m: Manifest) -> Check {
        var problems: [String] = []
        for c in m.components {
            for e in c.versionEvidence where e.found != m.version {
                problems.append(
                    "component \(c.name): \(e.file) (\(e.location)) records \(e.found), the bundle's version is \(m.version)"
                )
            }
            switch c.kind {
            case .code, .model, .document:
                if c.versionEvidence.isEmpty {
                    problems.append("component \(c.name) (\(c.kind.rawValue)) records no version evidence")
                }
            case .dependencyManifest, .file: break
            }
            if c.kind == .code && !m.provenance.git.contains(where: { $0.component == c.name }) {
                problems.append("component \(c.name) (code) records no git commit and tag")
            }
        }
        for g in m.provenance.git where g.tag.contains(m.version) == false {
            problems.append("component \(g.component): tag \(g.tag) does not carry the version \(m.version)")
        }
        if !m.components.contains(where: {
            $0.name == ReleaseNotesComponent.name && $0.files.contains { $0.path == m.releaseNotes }
        }) {
            problems.append("the release notes \(m.releaseNotes) are not the file of the release-notes component")
        }
        return Check(
            .versionConsistency, status: problems.isEmpty ? .pass : .fail, details: problems,
            evidence: [("version", m.version)]
                + m.provenance.git.map { ("git \($0.component)", "\($0.tag) @ \($0.commit)") })
    }

    /// The policy's lowest acceptable version for this product (against downgrade).
    static func minimum(_ m: Manifest, policy: TrustPolicy) -> Check {
        guard let minimum = policy.minimumVersions[m.product.name] else {
            return Check(
                .versionMinimum, status: .pass,
                details: ["the trust policy sets no minimum version for \(m.product.name)"],
                evidence: [("version", m.version)])
        }
        guard let version = ReleaseVersion(m.version), let lowest = ReleaseVersion(minimum) else {
            return Check(
                .versionMinimum, status: .fail,
                details: ["the bundle's version \(m.version) cannot be compared with the minimum \(minimum)"])
        }
        let below = !VersionRange(minimum: lowest, maximum: nil).contains(version)
        return Check(
            .versionMinimum, status: below ? .fail : .pass,
            details: below
                ? ["version \(m.version) is below the site's minimum \(minimum): a downgrade is refused"] : [],
            evidence: [("version", m.version), ("minimum", minimum)])
    }
}

extension VerifyReport {
    /// Records the manifest `reader` opened: its digest, product and version, and the passed
    /// `manifest` check with them as evidence. Verify and install open a bundle the same way.
    mutating func recordManifest(of reader: BundleReader) {
        manifestDigest = reader.manifestDigest
        product = reader.manifest.product.name
        version = reader.manifest.version
        checks.append(
            Check(
                .manifest, status: .pass,
                evidence: [
                    ("sha256", reader.manifestDigest.hex), ("product", reader.manifest.product.name),
                    ("version", reader.manifest.version), ("files", String(reader.manifest.allFiles.count)),
                ]))
    }
}
