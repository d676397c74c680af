/// The name of a recipient entry: `ivpack/recipients/NNN-NAME.p7m`, one CMS AuthEnvelopedData
/// that wraps the bundle's content key for one or more certificates (docs/encryption.md),
/// numbered from 001 in the order added. Appended after the payload like signatures, so a site
/// is added as a recipient without rewriting the payload or the manifest.
public struct RecipientEntryName: Sendable, Equatable {
    public static let prefix = "ivpack/recipients/"
    /// Most recipient entries one bundle may carry.
    public static let maxCount = 999
    /// The name `build` gives the entry for the licence server's escrow certificate.
    public static let escrowName = "license-escrow"

    /// 1-based number of the entry.
    public let index: Int
    /// Who the entry is for, as given when it was added (same rules as a signature's role).
    public let name: String
    /// The entry's full path.
    public var path: String { Self.make(index: index, name: name) }

    /// The parsed name, or nil for anything that is not exactly `NNN-NAME.p7m` under the prefix.
    public init?(_ path: String) {
        guard path.hasPrefix(Self.prefix), path.hasSuffix(".p7m") else { return nil }
        let body = path.dropFirst(Self.prefix.count).dropLast(4)
        guard body.count > 4, let dash = body.firstIndex(of: "-") else { return nil }
        let digits = body[..<dash]
        let name = String(body[body.index(after: dash)...])
        guard digits.count == 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let index = Int(digits), index >= 1,
            SignatureEntryName.isValidRole(name)
        else { return nil }
        self.index = index
        self.name = name
    }

    /// The entry name of the `index`-th recipient entry (1-based) called `name`.
    public static func make(index: Int, name: String) -> String {
        let number = String(index)
        return prefix + String(repeating: "0", count: max(0, 3 - number.count)) + number + "-" + name + ".p7m"
    }
}
