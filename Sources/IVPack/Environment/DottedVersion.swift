/// A version made of dot-separated numbers (`5.10`, `535.104.05`, `3.11.7`), compared number by
/// number: `5.10 < 5.15 < 6.1`, and a missing component counts as 0 (`5.10 == 5.10.0`).
///
/// Components keep the digits as written (so `535.104.05` prints as written); comparison ignores
/// leading zeros and never overflows, however long a component is.
///
/// This is the version of something found on the target machine (a kernel, a driver, a tool), not
/// a release version (`ReleaseVersion`), and stays its own type because the two differ in kind:
/// it is scanned out of free text (`6.1.0-28-amd64`, `Python 3.11.7`) where a release version is
/// a whole canonical string; its components are digit strings of any length, kept as written,
/// where a release's fields are bounded numbers; it has no `V` prefix and no pre-release; and a
/// requirement matches it at the precision it was written with (`matches(exact:)`). It shares the
/// field order with `ReleaseVersion` (`VersionFields`: a missing component counts as 0).
public struct DottedVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Most components read from one version.
    static let maxComponents = 12
    /// Most digits read in one component.
    static let maxDigits = 30

    /// The numeric components, as the digits were written.
    public let components: [String]

    /// A version that is exactly dot-separated numbers (`3.11`), nil for anything else (`3.11+`, `v3`).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.count <= Self.maxComponents,
            parts.allSatisfy({ !$0.isEmpty && $0.utf8.count <= Self.maxDigits && $0.utf8.allSatisfy(Self.isDigit) })
        else { return nil }
        components = parts.map(String.init)
    }

    private init(components: [String]) { self.components = components }

    /// The version at the start of `text`: `6.1.0-28-amd64` gives `6.1.0`, `5.15.0+` gives `5.15.0`.
    /// Nil when `text` does not start with a digit.
    public static func leading(in text: String) -> DottedVersion? {
        scan(Array(text.utf8), from: 0, minimumComponents: 1)
    }

    /// The first number with at least one dot anywhere in `text`: `Python 3.11.7` gives `3.11.7`,
    /// `openjdk version "17.0.9" 2023-10-17` gives `17.0.9`, `go1.21.5` gives `1.21.5`.
    public static func first(in text: String) -> DottedVersion? {
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            if isDigit(bytes[i]), i == 0 || !isDigit(bytes[i - 1]) {
                if let v = scan(bytes, from: i, minimumComponents: 2) { return v }
            }
            i += 1
        }
        return nil
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    private static func scan(_ bytes: [UInt8], from start: Int, minimumComponents: Int) -> DottedVersion? {
        var parts: [String] = []
        var i = start
        while parts.count < maxComponents {
            let begin = i
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
            guard i > begin, i - begin <= maxDigits else { break }
            parts.append(String(decoding: bytes[begin..<i], as: UTF8.self))
            // A dot continues the version only when a digit follows it ("3.11." ends at 3.11).
            guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "."), isDigit(bytes[i + 1]) else { break }
            i += 1
        }
        return parts.count >= minimumComponents ? DottedVersion(components: parts) : nil
    }

    /// The components without leading zeros, and without trailing zero components.
    private var normalized: [Substring] {
        var parts = components.map { c -> Substring in
            let s = Substring(c).drop { $0 == "0" }
            return s.isEmpty ? "0" : s
        }
        while parts.count > 1, parts.last == "0" { parts.removeLast() }
        return parts
    }

    private static func compare(_ a: Substring, _ b: Substring) -> Int {
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        if a == b { return 0 }
        return a < b ? -1 : 1
    }

    public static func < (a: DottedVersion, b: DottedVersion) -> Bool {
        VersionFields.compare(a.normalized, b.normalized, zero: "0", by: { compare($0, $1) < 0 }) < 0
    }

    public static func == (a: DottedVersion, b: DottedVersion) -> Bool { a.normalized == b.normalized }

    public func hash(into hasher: inout Hasher) { hasher.combine(normalized) }

    /// Whether this (found) version is the `required` one at the precision the requirement was
    /// written with: `3.11.7` matches 3.11 and 3.11.7, not 3.1, 3.12 or 3.11.8; `3` does not match 3.11.
    public func matches(exact required: DottedVersion) -> Bool {
        for (i, r) in required.components.enumerated() {
            let mine = i < components.count ? Substring(components[i]) : "0"
            let a = mine.drop { $0 == "0" }
            let b = Substring(r).drop { $0 == "0" }
            if Self.compare(a.isEmpty ? "0" : a, b.isEmpty ? "0" : b) != 0 { return false }
        }
        return true
    }

    public var description: String { components.joined(separator: ".") }
}
