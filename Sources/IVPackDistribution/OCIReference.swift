import IVPack

/// A bundle's place in an OCI registry: `oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:HEX]`.
///
/// Parsed strictly by the distribution specification's grammar (repository components of lower-case
/// letters, digits and separators; tags of at most 128 characters); a reference without a tag or
/// digest means the tag `latest`, as container tools read it.
public struct OCIReference: Sendable, Equatable, CustomStringConvertible {
    /// Host name or address, as written (an IPv6 address keeps its brackets).
    public var host: String
    /// The port; nil means 443.
    public var port: Int?
    /// The repository name, e.g. `vendor/pulmoscan`.
    public var repository: String
    /// The tag, or nil when the reference names a manifest by digest.
    public var tag: String?
    /// The manifest digest the reference pins, if any.
    public var digest: SHA256Digest?

    /// The scheme every reference starts with.
    public static let scheme = "oci://"
    /// The distribution specification's limit on a tag's length.
    public static let maximumTagLength = 128
    /// A limit on the whole reference (the specification bounds repository names by 255 in practice).
    public static let maximumLength = 1024

    /// Whether `text` is meant as a registry reference rather than a file path.
    public static func isReference(_ text: String) -> Bool { text.hasPrefix(scheme) }

    /// Parses `text`, throwing `DistributionError.badReference` that names the part at fault.
    public init(parsing text: String) throws {
        func bad(_ reason: String) -> DistributionError { .badReference(text, reason: reason) }
        guard text.utf8.count <= Self.maximumLength else {
            throw bad("longer than \(Self.maximumLength) bytes")
        }
        guard text.hasPrefix(Self.scheme) else {
            throw bad("a registry reference starts with oci://, e.g. oci://registry.example/vendor/product:V2.3.1")
        }
        let rest = text.dropFirst(Self.scheme.count)
        guard let slash = rest.firstIndex(of: "/") else {
            throw bad("no repository after the registry host: write oci://HOST[:PORT]/REPOSITORY[:TAG]")
        }
        let authority = String(rest[..<slash])
        var path = String(rest[rest.index(after: slash)...])
        guard !authority.isEmpty else { throw bad("the registry host is empty") }
        guard !authority.contains("@") else {
            throw bad("credentials do not belong in the reference; use --username and --password-file")
        }
        // Host and port.
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw bad("an IPv6 address lacks its ]") }
            host = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                port = nil
            } else {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) else {
                    throw bad("the port after \(host) is not a number from 1 to 65535")
                }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else {
                throw bad("the port after \(host) is not a number from 1 to 65535")
            }
            port = p
        } else {
            host = authority
            port = nil
        }
        guard host.utf8.allSatisfy({ Self.isHostByte($0) }), !host.isEmpty else {
            throw bad("the host \"\(host)\" has a character a host name cannot have")
        }
        // Digest, then tag (a tag cannot contain "/" and the digest comes last).
        digest = nil
        tag = nil
        if let at = path.firstIndex(of: "@") {
            let pinned = String(path[path.index(after: at)...])
            path = String(path[..<at])
            guard pinned.hasPrefix("sha256:") else {
                throw bad("the digest \"\(pinned)\" is not sha256:<64 lower-case hex digits>")
            }
            guard let d = SHA256Digest(hex: String(pinned.dropFirst(7))) else {
                throw bad("the digest \"\(pinned)\" is not sha256:<64 lower-case hex digits>")
            }
            digest = d
        }
        if let colon = path.lastIndex(of: ":") {
            let t = String(path[path.index(after: colon)...])
            path = String(path[..<colon])
            guard Self.isValidTag(t) else {
                throw bad(
                    "the tag \"\(t)\" is not 1 to \(Self.maximumTagLength) letters, digits, '_', '.' or '-' (not starting with '.' or '-')"
                )
            }
            tag = t
        }
        if tag == nil && digest == nil { tag = "latest" }
        guard Self.isValidRepository(path) else {
            throw bad(
                "the repository \"\(path)\" is not lower-case components of letters and digits joined by '.', '_', '__' or '-', separated by '/'"
            )
        }
        repository = path
    }

    /// The tag or `sha256:...` digest the manifest is fetched by.
    public var manifestReference: String {
        if let digest { return "sha256:\(digest.hex)" }
        return tag ?? "latest"
    }

    /// `https://HOST[:PORT]`.
    public var baseURL: String { "https://\(host)\(port.map { ":\($0)" } ?? "")" }

    public var description: String {
        var text = "\(Self.scheme)\(host)\(port.map { ":\($0)" } ?? "")/\(repository)"
        if let tag { text += ":\(tag)" }
        if let digest { text += "@sha256:\(digest.hex)" }
        return text
    }

    private static func isHostByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "["),
            UInt8(ascii: "]"), UInt8(ascii: ":"):
            return true
        default: return false
        }
    }

    /// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    static func isValidTag(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumTagLength else { return false }
        for (i, c) in bytes.enumerated() {
            let alnum =
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "_")
            if !(alnum || (i > 0 && (c == UInt8(ascii: ".") || c == UInt8(ascii: "-")))) { return false }
        }
        return true
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
    static func isValidRepository(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            let bytes = Array(component.utf8)
            guard !bytes.isEmpty else { return false }
            var i = 0
            func isAlnum(_ c: UInt8) -> Bool {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
            }
            // Runs of [a-z0-9]+ separated by ".", "_", "__" or "-+".
            while i < bytes.count {
                guard isAlnum(bytes[i]) else { return false }
                while i < bytes.count && isAlnum(bytes[i]) { i += 1 }
                guard i < bytes.count else { break }
                let start = i
                if bytes[i] == UInt8(ascii: ".") {
                    i += 1
                } else if bytes[i] == UInt8(ascii: "_") {
                    i += 1
                    if i < bytes.count && bytes[i] == UInt8(ascii: "_") { i += 1 }
                } else if bytes[i] == UInt8(ascii: "-") {
                    while i < bytes.count && bytes[i] == UInt8(ascii: "-") { i += 1 }
                } else {
                    return false
                }
                guard i > start, i < bytes.count else { return false }
            }
        }
        return true
    }
}
