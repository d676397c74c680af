/// The stable identifier of a verification check: what reports, pipelines and tests name. IDs
/// come from `VerifyCheckCatalog`, never from string literals in code.
public struct CheckID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The manifest is the first entry, within limits, canonical and valid.
    public static let manifest = CheckID(rawValue: "manifest")
    /// Every entry and every header byte is what build and sign write.
    public static let entries = CheckID(rawValue: "entries")
    /// Every payload byte matches its chunk digest.
    public static let payload = CheckID(rawValue: "payload")
    /// Every required role has a valid signature by its own certificate.
    public static let roles = CheckID(rawValue: "roles")
    /// A warning when the trust policy or a signer's root is a development PKI.
    public static let trustDevelopment = CheckID(rawValue: "trust.development")
    /// The release gate's signed verdict on this manifest (required by the trust policy's `requireGate`).
    public static let gate = CheckID(rawValue: "gate")
    /// The CRLs the signers' paths rely on are current: a warning within the policy's
    /// `crlWarnDays` of a CRL's nextUpdate, a failure after it under `revocation: require`.
    public static let trustCRLFreshness = CheckID(rawValue: "trust.crl-freshness")
    /// Every component carries the bundle's version, as recorded at build.
    public static let versionConsistency = CheckID(rawValue: "version.consistency")
    /// The version is not below the site's minimum (no downgrade).
    public static let versionMinimum = CheckID(rawValue: "version.minimum")
    /// An encrypted bundle: its encryption member and its recipient entries (wrapped content keys).
    public static let encryption = CheckID(rawValue: "encryption")
    /// The licence (online over mutual TLS, or an offline licence file).
    public static let license = CheckID(rawValue: "license")
    /// The environment requirements as a whole (when they cannot be read).
    public static let environment = CheckID(rawValue: "environment")
    /// An IQ report's own consistency (`verify-report`).
    public static let report = CheckID(rawValue: "report")
    /// An IQ report's signature (`verify-report`).
    public static let reportSignature = CheckID(rawValue: "signature")
    /// An IQ report: every role the trust policy requires for reports has a valid sign-off (`verify-report`).
    public static let reportRoles = CheckID(rawValue: "report.roles")
    /// An IQ report: the audit log still holds the events the report recorded (`verify-report --audit-log`).
    public static let audit = CheckID(rawValue: "audit")
    /// Install: the release folder written from the bytes checked.
    public static let installRelease = CheckID(rawValue: "install.release")
    /// Install: the site's state snapshotted before the hooks.
    public static let installSnapshot = CheckID(rawValue: "install.snapshot")
    /// Install: `current` switched to the release.
    public static let installSwitch = CheckID(rawValue: "install.switch")
    /// Install: the release's health check after the switch.
    public static let installHealthCheck = CheckID(rawValue: "install.health-check")
    /// Install: the automatic rollback after a failed health check.
    public static let installRollback = CheckID(rawValue: "install.rollback")
    /// Qualify: the release states a qualification to run.
    public static let qualificationSpec = CheckID(rawValue: "qualification.spec")
    /// Qualify: the vendor declares on-site qualification not applicable (the reason is recorded).
    public static let qualificationNotApplicable = CheckID(rawValue: "qualification.not-applicable")
    /// Qualify: the reference dataset and probe inputs are the manifest's bytes.
    public static let qualificationDataset = CheckID(rawValue: "qualification.dataset")
    /// Qualify: the release's service started and became ready.
    public static let qualificationService = CheckID(rawValue: "qualification.service")
    /// Qualify: latency p50/p95 over the reference cases within the thresholds.
    public static let qualificationLatency = CheckID(rawValue: "qualification.latency")
    /// Qualify: accuracy against the labels at least the threshold.
    public static let qualificationAccuracy = CheckID(rawValue: "qualification.accuracy")
    /// Qualify: success rate under concurrent requests at least the threshold.
    public static let qualificationConcurrency = CheckID(rawValue: "qualification.concurrency")
    /// Qualify: the service's peak memory and CPU within the thresholds.
    public static let qualificationResources = CheckID(rawValue: "qualification.resources")
    /// Qualify: the machine's CPU, memory and disk sampled during the run.
    public static let qualificationMachine = CheckID(rawValue: "qualification.machine")

    /// One function case of the release's qualification: `qualification.case.ID`.
    public static func qualificationCase(_ id: String) -> CheckID { CheckID(rawValue: "qualification.case." + id) }

    /// The check of signature entry number `index` (1-based): `signature.001`.
    public static func signature(_ index: Int) -> CheckID {
        let n = String(index)
        return CheckID(rawValue: "signature." + String(repeating: "0", count: max(0, 3 - n.count)) + n)
    }

    /// The check of sign-off number `index` (1-based) of an IQ report: `signoff.001`.
    public static func signOff(_ index: Int) -> CheckID {
        let n = String(index)
        return CheckID(rawValue: "signoff." + String(repeating: "0", count: max(0, 3 - n.count)) + n)
    }

    /// One aspect of the environment requirements: `environment.cpu`, `environment.tool.python3`.
    public static func environment(_ aspect: String) -> CheckID { CheckID(rawValue: "environment." + aspect) }
}

/// A check verify can report: its ID, what it establishes, and the clause it serves.
public struct CheckDescriptor: Sendable, Equatable {
    public var id: CheckID
    /// What passing the check means, in one line (the title of its row in reports).
    public var title: String
    /// The clauses of the IQ draft standard and the rules it serves.
    public var clause: String
}

/// Every fixed check of `ivpack verify`, in report order. Signature checks (`signature.NNN`) and
/// environment aspects (`environment.*`) are families whose titles name their subject.
public enum VerifyCheckCatalog {
    public static let all: [CheckDescriptor] = [
        .init(id: .manifest, title: "Manifest is the first entry and is valid", clause: "IQ 5.1.2, 6.2.2 f"),
        .init(
            id: .entries, title: "Every entry is in the manifest, once, in order, a regular file with a safe name",
            clause: "IQ 5.1.2, 6.2.2 f; DESIGN bundle 6"),
        .init(
            id: .payload, title: "Every file's size and the SHA-256 of each of its chunks match the manifest",
            clause: "IQ 5.1.2, 6.2.2 f"),
        .init(
            id: .roles, title: "Every role the trust policy requires has a valid signature by its own certificate",
            clause: "IQ 6.6.1 f"),
        .init(
            id: .trustDevelopment, title: "Trust policy trusts production roots only (no development PKI)",
            clause: "IQ 6.2.1"),
        .init(
            id: .gate,
            title:
                "The release gate passed this manifest: a valid attestation signed by the gate role the trust policy requires",
            clause: "IQ 6.6.1"),
        .init(
            id: .trustCRLFreshness,
            title: "The CRLs the signers' paths rely on are current (not past, nor close to, their next update)",
            clause: "IQ 6.2.1; RFC 5280 6.3"),
        .init(
            id: .encryption,
            title: "Encrypted components: every recipient entry is a wrapped content key, and who can open it",
            clause: "IQ 5.1.2"),
        .init(
            id: .versionConsistency, title: "Every component carries the bundle's version (as recorded at build)",
            clause: "IQ 5.5.1 a-c"),
        .init(
            id: .versionMinimum, title: "Version is not below the site's minimum for the product",
            clause: "IQ 5.5.1; policy"),
        .init(
            id: .license,
            title:
                "Licensed for this site, by the vendor's licence server over mutual TLS, for an authenticated installer",
            clause: "IQ 5.1.1, 6.2.1"),
        .init(id: .environment, title: "Environment requirements", clause: "IQ 4.1.1, 4.1.2 a"),
        .init(
            id: .reportRoles,
            title: "Every role the trust policy requires for reports (reportRoles) has a valid sign-off",
            clause: "IQ 3.5, annex A.2, annex C.1; 21 CFR 11.50"),
        .init(
            id: .audit, title: "The audit log still holds every event the report recorded",
            clause: "IQ 5.6, 6.5.1"),
        .init(
            id: .installRelease,
            title: "The release is installed from exactly the bytes checked, in its own folder, flushed to disk",
            clause: "IQ 3.2 b, 4.1.2 b-c"),
        .init(
            id: .installSnapshot, title: "The site's state is kept (snapshot) before the release's hooks run",
            clause: "IQ 5.2.2"),
        .init(
            id: .installSwitch, title: "The release is made active in one atomic switch", clause: "IQ 4.1.2 d, 5.2.2"),
        .init(
            id: .installHealthCheck, title: "The release's health check passed after the switch", clause: "IQ 4.1.2 d"),
        .init(
            id: .installRollback, title: "After the failed health check, the earlier release and its state are back",
            clause: "IQ 5.2.2, 6.3.2 a-c"),
        .init(id: .qualificationSpec, title: "The release states its on-site qualification", clause: "IQ 4.3"),
        .init(
            id: .qualificationNotApplicable, title: "On-site qualification is declared not applicable by the vendor",
            clause: "IQ 4.3"),
        .init(
            id: .qualificationDataset,
            title: "The reference dataset and probe inputs are the vendor's, byte for byte", clause: "IQ 4.3.2"),
        .init(id: .qualificationService, title: "The release's service started and answered", clause: "IQ 4.3.1"),
        .init(
            id: .qualificationLatency, title: "Time per case (p50, p95) within the release's thresholds",
            clause: "IQ 4.3.2"),
        .init(
            id: .qualificationAccuracy, title: "Answers on the reference cases match their labels", clause: "IQ 4.3.2"),
        .init(
            id: .qualificationConcurrency, title: "Concurrent requests succeed at the release's rate",
            clause: "IQ 4.3.2"),
        .init(
            id: .qualificationResources, title: "The service's memory and CPU within the release's thresholds",
            clause: "IQ 4.3.2"),
        .init(
            id: .qualificationMachine, title: "The machine's CPU, memory and disk were sampled during qualification",
            clause: "IQ 5.3.1"),
    ]

    /// The descriptor of `id`, or nil for a family member or an unknown ID.
    public static func descriptor(_ id: CheckID) -> CheckDescriptor? { all.first { $0.id == id } }

    /// The catalogue title of `id`; the raw ID where the catalogue has none.
    public static func title(_ id: CheckID) -> String { descriptor(id)?.title ?? id.rawValue }
}
