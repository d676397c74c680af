/// `ivpack trust refresh`: fetches the CRLs of a trust policy over HTTP from the distribution
/// points of its CA certificates (and the `url` of its `crls` entries), checks each against its
/// issuer in the policy, and installs it atomically in the policy's CRL file.
///
/// A CRL is signed, so plain HTTP is enough (RFC 5280 4.2.1.13); other schemes are refused with a
/// note. The HTTP client is the blocking `HTTPProber` (IVPackLicense's `NIOHTTPProber` in the CLI).
public enum CRLRefresh {
    /// Largest CRL fetched (the prober's own limit).
    public static let maxCRLBytes = maxProbeResponseBytes

    /// What happened to one distribution point.
    public enum Result: Sendable, Equatable {
        /// A newer CRL was installed in `file`.
        case updated
        /// The CRL served is the one installed.
        case unchanged
        /// The CRL was refused; nothing was written.
        case refused(String)
        /// No CRL could be fetched; nothing was written.
        case unreachable(String)
        /// The CRL was good but could not be written (the old file is untouched).
        case notWritten(String)

        public var word: String {
            switch self {
            case .updated: "updated"
            case .unchanged: "unchanged"
            case .refused: "refused"
            case .unreachable: "unreachable"
            case .notWritten: "not-written"
            }
        }
    }

    /// One distribution point and its result.
    public struct Outcome: Sendable, Equatable {
        public var url: String
        /// The policy's CRL file concerned, as the policy names it, when known.
        public var file: String?
        /// The CRL's issuer, when a CRL was read.
        public var issuer: String?
        public var result: Result
        /// The installed CRL's next update, when updated or unchanged.
        public var nextUpdate: Int64?

        /// One line for a report.
        public var line: String {
            var text = "\(result.word.uppercased())  \(url)"
            if let file { text += " -> \(file)" }
            switch result {
            case .refused(let why), .unreachable(let why), .notWritten(let why): text += ": " + why
            case .updated, .unchanged:
                if let nextUpdate { text += " (next update \(Timestamp.iso8601(nextUpdate)))" }
            }
            return text
        }
    }

    /// Everything a refresh did, and the CRLs still stale after it.
    public struct Report: Sendable {
        public var outcomes: [Outcome]
        /// The policy's CRLs past (or without) their next update after the refresh.
        public var stale: [CRLFreshness]

        /// 0: every CRL current and nothing refused; 1: a CRL refused, or one still stale;
        /// 3: a distribution point unreachable, or a CRL file not writable (and nothing refused).
        public var exitCode: Int32 {
            if outcomes.contains(where: { if case .refused = $0.result { true } else { false } }) { return 1 }
            if outcomes.contains(where: {
                switch $0.result {
                case .unreachable, .notWritten: true
                default: false
                }
            }) {
                return 3
            }
            return stale.isEmpty ? 0 : 1
        }
    }

    /// Refreshes every CRL of `policy` at `now`, waiting at most `timeoutMilliseconds` per fetch.
    public static func refresh(
        policy: TrustPolicy, prober: any HTTPProber, timeoutMilliseconds: Int64, now: Int64
    ) -> Report {
        // Where to fetch, in order: the distribution points of the policy's CA certificates,
        // then the URLs given with its CRL files; each URL once.
        var sources: [(url: String, file: TrustPolicy.CRLFile?)] = []
        for certificate in policy.trustedRoots + policy.intermediates {
            for url in certificate.crlDistributionPoints where !sources.contains(where: { $0.url == url }) {
                sources.append((url, nil))
            }
        }
        for file in policy.crlFiles {
            guard let url = file.url else { continue }
            if let i = sources.firstIndex(where: { $0.url == url }) {
                sources[i].file = file
            } else {
                sources.append((url, file))
            }
        }
        // CRLs installed by this refresh, by file path, so a second source for one file compares
        // against what is there now.
        var installed: [String: [RevocationList]] = [:]
        var outcomes: [Outcome] = []
        for source in sources {
            let outcome = refreshOne(
                url: source.url, file: source.file, policy: policy, installed: &installed, prober: prober,
                timeoutMilliseconds: timeoutMilliseconds, now: now)
            outcomes.append(outcome)
        }
        var after = policy
        for i in after.crlFiles.indices {
            if let crls = installed[after.crlFiles[i].path] { after.crlFiles[i].crls = crls }
        }
        let stale = after.crlFreshness(path: nil, now: now).filter { $0.state == .expired || $0.state == .noNextUpdate }
        return Report(outcomes: outcomes, stale: stale)
    }

    static func refreshOne(
        url: String, file given: TrustPolicy.CRLFile?, policy: TrustPolicy, installed: inout [String: [RevocationList]],
        prober: any HTTPProber, timeoutMilliseconds: Int64, now: Int64
    ) -> Outcome {
        var outcome = Outcome(url: url, file: given?.name, issuer: nil, result: .unchanged)
        guard url.lowercased().hasPrefix("http://"), let parts = URLParts(url), !parts.tls else {
            outcome.result = .refused(
                "only http:// distribution points are fetched (a CRL is signed, so it needs no TLS); fetch this one yourself and install it in the policy's CRL file"
            )
            return outcome
        }
        let fetched: ProbeResponse
        switch prober.send(
            ProbeRequest(method: "GET", url: parts, urlText: url), timeoutMilliseconds: timeoutMilliseconds)
        {
        case .failure(let failure):
            outcome.result = .unreachable(failure.message)
            return outcome
        case .success(let response): fetched = response
        }
        guard fetched.status == 200 else {
            outcome.result = .unreachable("the server answered HTTP \(fetched.status)")
            return outcome
        }
        guard fetched.body.count <= maxCRLBytes else {
            outcome.result = .refused("the answer exceeds \(maxCRLBytes) bytes")
            return outcome
        }
        let parsed = RevocationList.parse(fetched.body)
        guard parsed.count == 1, let crl = parsed.first else {
            outcome.result = .refused(
                parsed.isEmpty
                    ? "the answer is not a CRL (PEM or DER)" : "the answer holds \(parsed.count) CRLs, not one")
            return outcome
        }
        outcome.issuer = crl.issuer
        // The issuer: a CA certificate of the policy whose subject is the CRL's issuer.
        let named = (policy.trustedRoots + policy.intermediates).filter { crl.isIssued(by: $0) }
        guard !named.isEmpty else {
            outcome.result = .refused(
                "the CRL's issuer \"\(crl.issuer)\" is not a CA certificate of the policy (trustedRoots, intermediates)"
            )
            return outcome
        }
        guard named.contains(where: { crl.isSigned(by: $0) }) else {
            outcome.result = .refused(
                "the CRL's signature does not verify with the key of \"\(crl.issuer)\" from the policy: it was changed or signed by another key"
            )
            return outcome
        }
        guard crl.lastUpdate <= now + policy.maxClockSkewSeconds else {
            outcome.result = .refused(
                "the CRL's thisUpdate \(Timestamp.iso8601(crl.lastUpdate)) is in the future; check this machine's clock"
            )
            return outcome
        }
        guard let next = crl.nextUpdate else {
            outcome.result = .refused("the CRL has no nextUpdate (RFC 5280 5.1.2.5 requires one)")
            return outcome
        }
        guard next > now else {
            outcome.result = .refused(
                "the CRL served expired at its next update, \(Timestamp.iso8601(next)): the CA has not published a current one"
            )
            return outcome
        }
        // Where it goes: the file given with the URL, else the policy's CRL file holding the same issuer's CRL.
        guard
            let file = given
                ?? policy.crlFiles.first(where: { f in (installed[f.path] ?? f.crls).contains { sameIssuer($0, crl) } })
        else {
            outcome.result = .refused(
                "the policy has no crls entry for \"\(crl.issuer)\"; add its CRL file under crls (with url: \(url))")
            return outcome
        }
        outcome.file = file.name
        let current = installed[file.path] ?? file.crls
        if let old = current.first(where: { sameIssuer($0, crl) }) {
            if old.der == crl.der {
                outcome.nextUpdate = next
                return outcome
            }
            if let oldNumber = old.crlNumber, let newNumber = crl.crlNumber {
                guard newNumber > oldNumber else {
                    outcome.result = .refused(
                        "the CRL served has CRL number \(newNumber), not above the installed \(oldNumber): an older or replayed CRL (rollback) is never installed"
                    )
                    return outcome
                }
            } else if crl.lastUpdate < old.lastUpdate {
                outcome.result = .refused(
                    "the CRL served was issued \(Timestamp.iso8601(crl.lastUpdate)), before the installed one (\(Timestamp.iso8601(old.lastUpdate))): an older CRL is never installed"
                )
                return outcome
            }
        }
        // Other issuers' CRLs in the same file stay as they are.
        var replaced = current.filter { !sameIssuer($0, crl) }
        replaced.append(crl)
        do {
            let output = try AtomicOutputFile(path: file.path)
            try Array(replaced.map(\.pem).joined().utf8).withUnsafeBytes { try output.write($0) }
            try output.commit()
        } catch {
            outcome.result = .notWritten("cannot write \(file.path): \(error)")
            return outcome
        }
        installed[file.path] = replaced
        outcome.result = .updated
        outcome.nextUpdate = next
        return outcome
    }

    static func sameIssuer(_ a: RevocationList, _ b: RevocationList) -> Bool { a.issuer == b.issuer }
}
