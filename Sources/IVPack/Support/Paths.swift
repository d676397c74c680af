/// Release-relative paths: how ivpack names a file inside a release folder and inside a bundle.
public enum RelativePath {
    /// Longest path accepted, in bytes.
    public static let maxBytes = 4096

    /// Why a path was refused.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case empty, absolute, escapesRoot, backslash, controlCharacter, tooLong, notUTF8

        public var description: String {
            switch self {
            case .empty: return "the path is empty"
            case .absolute: return "the path is absolute; it must be relative to the release folder"
            case .escapesRoot: return "the path leaves the release folder through '..'"
            case .backslash: return "the path contains a backslash; use '/' between folders"
            case .controlCharacter: return "the path contains a control character"
            case .tooLong: return "the path is longer than \(RelativePath.maxBytes) bytes"
            case .notUTF8: return "the path is not valid UTF-8"
            }
        }
    }

    /// The normal form of a relative path (`a/./b//c/` → `a/b/c`, `a/../b` → `b`), or the problem.
    /// Never returns a path that leaves its root.
    public static func normalize(_ path: String) -> Result<String, Problem> {
        if path.isEmpty { return .failure(.empty) }
        if path.utf8.count > maxBytes { return .failure(.tooLong) }
        if path.hasPrefix("/") { return .failure(.absolute) }
        if path.contains("\\") { return .failure(.backslash) }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return .failure(.controlCharacter)
        }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if parts.isEmpty { return .failure(.escapesRoot) }
                parts.removeLast()
                continue
            }
            parts.append(part)
        }
        if parts.isEmpty { return .failure(.empty) }
        return .success(parts.joined(separator: "/"))
    }

    /// Whether `path` is already in normal form and safe: what a bundle entry name must be.
    /// (The same answer as `normalize(path) == path` without any `..`, in one pass over the bytes
    /// without allocating: every name of a manifest with thousands of files goes through it.)
    public static func isCanonical(_ path: String) -> Bool {
        var path = path
        return path.withUTF8 { b in
            if b.isEmpty || b.count > maxBytes { return false }
            var componentStart = 0
            for i in 0...b.count {
                if i == b.count || b[i] == UInt8(ascii: "/") {
                    let length = i - componentStart
                    // Empty (leading, doubled or trailing '/'), "." or "..".
                    if length == 0 { return false }
                    if b[componentStart] == UInt8(ascii: "."),
                        length == 1 || (length == 2 && b[componentStart + 1] == UInt8(ascii: "."))
                    {
                        return false
                    }
                    componentStart = i + 1
                } else {
                    // Control characters and the backslash are ASCII: never part of a longer UTF-8 sequence.
                    let c = b[i]
                    if c < 0x20 || c == 0x7F || c == UInt8(ascii: "\\") { return false }
                }
            }
            return true
        }
    }
}
