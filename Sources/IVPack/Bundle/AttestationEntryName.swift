/// The name of an attestation entry: `ivpack/attestations/NNN-KIND.p7s`, one CMS SignedData that
/// carries a signed in-toto Statement about the bundle's manifest (docs/bundle-format.md),
/// numbered from 001 in the order added. Appended after the payload like signatures, so a
/// statement is added without rewriting the payload or the manifest.
public struct AttestationEntryName: Sendable, Equatable {
    public static let prefix = "ivpack/attestations/"
    /// Most attestation entries one bundle may carry.
    public static let maxCount = 999

    /// What an attestation states.
    public enum Kind: String, Sendable, CaseIterable {
        /// The release gate's verdict on the manifest (`ivpack check --attest`).
        case gate
        /// An approver signed although the gate did not pass (`ivpack sign --override-gate`).
        case gateOverride = "gate-override"
    }

    /// 1-based number of the entry.
    public let index: Int
    public let kind: Kind
    /// The entry's full path.
    public var path: String { Self.make(index: index, kind: kind) }

    /// The parsed name, or nil for anything that is not exactly `NNN-KIND.p7s` under the prefix
    /// with a known kind.
    public init?(_ path: String) {
        guard path.hasPrefix(Self.prefix), path.hasSuffix(".p7s") else { return nil }
        let body = path.dropFirst(Self.prefix.count).dropLast(4)
        guard body.count > 4, let dash = body.firstIndex(of: "-") else { return nil }
        let digits = body[..<dash]
        guard digits.count == 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let index = Int(digits), index >= 1,
            let kind = Kind(rawValue: String(body[body.index(after: dash)...]))
        else { return nil }
        self.index = index
        self.kind = kind
    }

    /// The entry name of the `index`-th attestation entry (1-based) of `kind`.
    public static func make(index: Int, kind: Kind) -> String {
        let number = String(index)
        return prefix + String(repeating: "0", count: max(0, 3 - number.count)) + number + "-" + kind.rawValue + ".p7s"
    }
}
