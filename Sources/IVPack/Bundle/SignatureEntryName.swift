/// The name of a signature entry: `ivpack/signatures/NNN-ROLE.p7s`, numbered from 001 in the order
/// added. Parsed strictly, in one place, for every command.
public struct SignatureEntryName: Sendable, Equatable {
    public static let prefix = "ivpack/signatures/"
    /// Most signatures one bundle may carry.
    public static let maxCount = 999

    /// 1-based number of the signature.
    public let index: Int
    /// The role the entry claims (what the certificate must prove under the trust policy).
    public let role: String
    /// The entry's full path.
    public var path: String { Self.make(index: index, role: role) }

    /// The parsed name, or nil for anything that is not exactly `NNN-ROLE.p7s` under the prefix.
    public init?(_ path: String) {
        guard path.hasPrefix(Self.prefix), path.hasSuffix(".p7s") else { return nil }
        let body = path.dropFirst(Self.prefix.count).dropLast(4)
        guard body.count > 4, let dash = body.firstIndex(of: "-") else { return nil }
        let digits = body[..<dash]
        let role = String(body[body.index(after: dash)...])
        guard digits.count == 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let index = Int(digits), index >= 1,
            Self.isValidRole(role)
        else { return nil }
        self.index = index
        self.role = role
    }

    /// The entry name of the `index`-th signature (1-based) for `role`.
    public static func make(index: Int, role: String) -> String {
        let number = String(index)
        return prefix + String(repeating: "0", count: max(0, 3 - number.count)) + number + "-" + role + ".p7s"
    }

    /// Role names: 1 to 32 lower-case letters, digits and '-', starting with a letter.
    public static func isValidRole(_ role: String) -> Bool {
        guard let first = role.utf8.first, role.utf8.count <= 32, first >= 0x61 && first <= 0x7A else { return false }
        return role.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }
}
