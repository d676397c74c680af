/// How current one CRL of the trust policy is at a moment: what `verify` reports about the CRLs a
/// signer's path relies on (`trust.crl-freshness`).
public struct CRLFreshness: Sendable, Equatable {
    public enum State: String, Sendable {
        /// nextUpdate is more than the policy's `crlWarnDays` away.
        case current
        /// nextUpdate is within `crlWarnDays`: refresh soon.
        case expiring
        /// nextUpdate has passed: the CRL is no longer the issuer's current word on revocation.
        case expired
        /// The CRL has no nextUpdate (RFC 5280 requires one): it cannot be judged current.
        case noNextUpdate = "no-next-update"
    }

    /// The CRL issuer, RFC 2253.
    public var issuer: String
    /// The policy's file that holds the CRL, as the policy names it.
    public var file: String
    public var nextUpdate: Int64?
    public var state: State

    /// One line for a report: which CRL, from which file, and what to do.
    public func message(policyFile: String) -> String {
        let next = nextUpdate.map(Timestamp.iso8601) ?? "never"
        let refresh =
            "run `ivpack trust refresh --policy \(policyFile)` (or install the issuer's current CRL in \(file))"
        switch state {
        case .current:
            return "the CRL of \(issuer) in \(file) is current (next update \(next))"
        case .expiring:
            return "the CRL of \(issuer) in \(file) expires at its next update, \(next); \(refresh) before then"
        case .expired:
            return "the CRL of \(issuer) in \(file) expired at its next update, \(next); \(refresh)"
        case .noNextUpdate:
            return "the CRL of \(issuer) in \(file) has no next update, so it cannot be judged current; \(refresh)"
        }
    }
}

extension TrustPolicy {
    /// The freshness at `now` of the policy's CRLs that speak for the certificates of `path` (every
    /// certificate but a self-signed root); every CRL of the policy when `path` is nil. Empty when
    /// revocation is not checked.
    public func crlFreshness(path: [Certificate]?, now: Int64) -> [CRLFreshness] {
        guard revocation != .disabled else { return [] }
        let covered = path?.filter { !$0.isSelfSigned }
        let warnFrom = Int64(crlWarnDays) * 86_400
        var out: [CRLFreshness] = []
        for file in crlFiles {
            for crl in file.crls {
                if let covered, !covered.contains(where: { crl.covers($0) }) { continue }
                let state: CRLFreshness.State
                switch crl.nextUpdate {
                case nil: state = .noNextUpdate
                case let next? where next < now: state = .expired
                case let next? where next - now <= warnFrom: state = .expiring
                default: state = .current
                }
                out.append(CRLFreshness(issuer: crl.issuer, file: file.name, nextUpdate: crl.nextUpdate, state: state))
            }
        }
        return out
    }

    /// The `trust.crl-freshness` check over `statuses` (duplicates merged): a failure when a CRL
    /// relied on has expired (or has no nextUpdate) under `revocation: require`, a warning when one
    /// expires within `crlWarnDays` or has expired under `if-available`; nil when all are current.
    public func crlFreshnessCheck(_ statuses: [CRLFreshness]) -> Check? {
        var seen: [CRLFreshness] = []
        for s in statuses where s.state != .current && !seen.contains(s) { seen.append(s) }
        guard !seen.isEmpty else { return nil }
        let stale = seen.contains { $0.state == .expired || $0.state == .noNextUpdate }
        let status: Check.Status = stale && revocation == .require ? .fail : .warn
        return Check(
            .trustCRLFreshness, status: status, details: seen.map { $0.message(policyFile: file) },
            evidence: seen.map {
                ($0.file, "\($0.state.rawValue), next update \($0.nextUpdate.map(Timestamp.iso8601) ?? "none")")
            })
    }
}
