/// A release version: numeric dot-separated fields, most significant first, an optional
/// pre-release (`-rc.1`) and optional build metadata (`+…`), as in `V2.3.1.1024`, `2.3.1`,
/// `V2.3.2.1031-rc.1`. The one type for the versions a release carries: the gate's history rules,
/// the trust policy's minimum, licence ranges and `diff` all order versions with it.
///
/// Ordering is SemVer precedence over any number of fields: field by field with a missing field
/// counting as 0 (`2.3 == 2.3.0`), then a pre-release before the release it leads to (SemVer §11).
/// Build metadata is not part of the value. `text` keeps the version as written, for messages;
/// two versions of different spelling can be equal (`V2.3.1` and `2.3.1.0`).
///
/// Versions of the environment (a kernel `6.1.0-28-amd64`, a driver `535.104.05`) are not release
/// versions: they are `DottedVersion`s.
public struct ReleaseVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Most digits in one numeric field: nine always fit an `Int`.
    public static let maxFieldDigits = 9

    /// The version as written.
    public let text: String
    /// The numeric fields, most significant first; never empty.
    public let fields: [Int]
    /// The pre-release suffix without its dash (`rc.1`), if any.
    public let preRelease: String?

    /// A version whose parts were read elsewhere (the release gate reads them under its scheme).
    public init(text: String, fields: [Int], preRelease: String?) {
        self.text = text
        self.fields = fields
        self.preRelease = preRelease
    }

    /// Reads a version of numeric fields: an optional `V` or `v`, one or more fields of 1 to
    /// `maxFieldDigits` ASCII digits separated by dots, then an optional `-pre-release` and
    /// `+build`. Nil for anything else (`2..1`, `V2.x`, `release-2`, an empty string).
    public init?(_ text: String) {
        var rest = Substring(text)
        if rest.first == "V" || rest.first == "v" { rest = rest.dropFirst() }
        var preRelease: String?
        if let cut = rest.firstIndex(where: { $0 == "-" || $0 == "+" }) {
            if rest[cut] == "-" {
                let suffix = rest[rest.index(after: cut)...]
                preRelease = String(suffix.prefix { $0 != "+" })
            }
            rest = rest[..<cut]
        }
        var fields: [Int] = []
        for part in rest.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.count <= Self.maxFieldDigits, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                let n = Int(part)
            else { return nil }
            fields.append(n)
        }
        self.init(text: text, fields: fields, preRelease: preRelease)
    }

    /// The same version without its pre-release: what a release range and a minimum compare.
    public var release: ReleaseVersion { ReleaseVersion(text: text, fields: fields, preRelease: nil) }

    /// -1, 0 or 1: by the numeric fields (a missing field counts as 0), then a pre-release before
    /// the release it leads to, pre-releases by SemVer precedence.
    public func compare(to other: ReleaseVersion) -> Int {
        let order = VersionFields.compare(fields, other.fields, zero: 0, by: { $0 < $1 })
        if order != 0 { return order }
        switch (preRelease, other.preRelease) {
        case (nil, nil): return 0
        case (nil, _): return 1
        case (_, nil): return -1
        case (let a?, let b?): return SemVer.compare(a, b)
        }
    }

    public static func < (a: ReleaseVersion, b: ReleaseVersion) -> Bool { a.compare(to: b) < 0 }

    /// Equal in order: the same fields (trailing zero fields aside) and the same pre-release.
    public static func == (a: ReleaseVersion, b: ReleaseVersion) -> Bool { a.compare(to: b) == 0 }

    public func hash(into hasher: inout Hasher) {
        var significant = fields[...]
        while significant.last == 0 { significant = significant.dropLast() }
        hasher.combine(Array(significant))
        hasher.combine(preRelease)
    }

    /// The version as written.
    public var description: String { text }
}

/// The versions from `minimum` to `maximum`, both included, compared as releases: a pre-release
/// counts as the release it leads to (`V2.3.1.1024-rc.1` is in a range that starts at
/// `V2.3.1.1024`), as a licence's range and the trust policy's minimum always have.
public struct VersionRange: Sendable, Hashable, CustomStringConvertible {
    /// The lowest version covered.
    public let minimum: ReleaseVersion
    /// The highest version covered; nil for no upper end (a trust policy's minimum).
    public let maximum: ReleaseVersion?

    /// The versions from `minimum` to `maximum`, or from `minimum` up when `maximum` is nil.
    public init(minimum: ReleaseVersion, maximum: ReleaseVersion?) {
        self.minimum = minimum
        self.maximum = maximum
    }

    /// The range between two written versions; nil when either is not a version of numeric fields.
    public init?(minimum: String, maximum: String) {
        guard let low = ReleaseVersion(minimum), let high = ReleaseVersion(maximum) else { return nil }
        self.init(minimum: low, maximum: high)
    }

    /// Whether no version at all is in the range (its minimum is above its maximum).
    public var isEmpty: Bool { maximum.map { minimum.release > $0.release } ?? false }

    /// Whether `version` is in the range.
    public func contains(_ version: ReleaseVersion) -> Bool {
        let v = version.release
        return minimum.release <= v && maximum.map { v <= $0.release } ?? true
    }

    /// Whether the written `version` is in the range; false when it is not a version of numeric fields.
    public func contains(_ version: String) -> Bool { ReleaseVersion(version).map(contains) ?? false }

    /// Whether `version` is from `minimum` to `maximum`, all three as written; false when any of
    /// them is not a version of numeric fields (a licence's or a grant's range).
    public static func covers(_ version: String, minimum: String, maximum: String) -> Bool {
        VersionRange(minimum: minimum, maximum: maximum)?.contains(version) ?? false
    }

    /// `minimum to maximum`, or `minimum and above`.
    public var description: String { maximum.map { "\(minimum) to \($0)" } ?? "\(minimum) and above" }
}

/// The field order shared by release and environment versions: field by field, a missing field
/// counting as zero.
enum VersionFields {
    /// -1, 0 or 1; `zero` stands in for a missing field, `less` orders two fields.
    static func compare<F>(_ a: [F], _ b: [F], zero: F, by less: (F, F) -> Bool) -> Int {
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : zero
            let y = i < b.count ? b[i] : zero
            if less(x, y) { return -1 }
            if less(y, x) { return 1 }
        }
        return 0
    }
}

/// The SemVer 2.0.0 grammar (semver.org), on ASCII only.
public enum SemVer {
    /// Whether `text` is a valid SemVer 2.0.0 version: exactly what the official regular expression
    /// `^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-(pre))?(?:\+(build))?$` accepts, with `\d` ASCII.
    public static func isValid(_ text: String) -> Bool {
        guard text.unicodeScalars.allSatisfy({ $0.isASCII }) else { return false }
        var rest = Substring(text)
        var build: Substring?
        if let plus = rest.firstIndex(of: "+") {
            build = rest[rest.index(after: plus)...]
            rest = rest[..<plus]
        }
        var pre: Substring?
        if let dash = rest.firstIndex(of: "-") {
            pre = rest[rest.index(after: dash)...]
            rest = rest[..<dash]
        }
        let core = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3, core.allSatisfy(isNumericIdentifier) else { return false }
        if let pre {
            let ids = pre.split(separator: ".", omittingEmptySubsequences: false)
            guard ids.allSatisfy({ isNumericIdentifier($0) || (isAlphanumericIdentifier($0) && !isDigits($0)) }) else {
                return false
            }
        }
        if let build {
            let ids = build.split(separator: ".", omittingEmptySubsequences: false)
            guard ids.allSatisfy(isAlphanumericIdentifier) else { return false }
        }
        return true
    }

    /// Whether pre-release `a` has lower precedence than pre-release `b` (SemVer §11.4).
    public static func precedes(_ a: String, _ b: String) -> Bool { compare(a, b) < 0 }

    /// -1, 0 or 1 by SemVer §11.4 precedence: identifier by identifier, numbers numerically and
    /// before words, words by ASCII order, a shorter list first. Identifiers SemVer does not allow
    /// (`01`) are ordered by their text where their number ties, so that the order stays total.
    static func compare(_ a: String, _ b: String) -> Int {
        let x = a.split(separator: ".", omittingEmptySubsequences: false)
        let y = b.split(separator: ".", omittingEmptySubsequences: false)
        for (p, q) in zip(x, y) where p != q {
            switch (isDigits(p) ? Int(p) : nil, isDigits(q) ? Int(q) : nil) {
            case (let m?, let n?) where m != n: return m < n ? -1 : 1
            case (_?, nil): return -1
            case (nil, _?): return 1
            default: return p.utf8.lexicographicallyPrecedes(q.utf8) ? -1 : 1
            }
        }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }

    static func isDigits(_ s: Substring) -> Bool { !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
    static func isNumericIdentifier(_ s: Substring) -> Bool { isDigits(s) && !(s.count > 1 && s.first == "0") }
    static func isAlphanumericIdentifier(_ s: Substring) -> Bool {
        !s.isEmpty
            && s.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D
            }
    }
}
