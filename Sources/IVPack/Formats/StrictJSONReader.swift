/// Strict reading of a JSON document into typed values: an object's members are checked against
/// the allowed set (an unknown member is refused, a required one must be there), and every error
/// is the `InputError` that `fail` makes from the member's JSON pointer and the problem. The
/// manifest and the installed state are read with it; each adds its document's own walk.
struct StrictJSONReader {
    /// Makes the error for the member at a JSON pointer (`/components/2/sha256`).
    let fail: (_ pointer: String, _ problem: String) -> InputError

    /// The members of the object `v` at pointer `p`, by name.
    func object(_ v: JSONValue, _ p: String, required: [String], optional: [String] = []) throws -> [String: JSONValue]
    {
        guard let members = v.objectValue else { throw fail(p, "must be an object, found \(v.typeName)") }
        var out: [String: JSONValue] = [:]
        for m in members {
            guard required.contains(m.key) || optional.contains(m.key) else {
                throw fail("\(p)/\(m.key)", "is not a known member")
            }
            out[m.key] = m.value
        }
        for k in required where out[k] == nil { throw fail("\(p)/\(k)", "is missing") }
        return out
    }

    func string(_ v: JSONValue?, _ p: String) throws -> String {
        guard let s = v?.stringValue else { throw fail(p, "must be a string") }
        return s
    }

    /// A string member that may be absent.
    func optionalString(_ v: JSONValue?, _ p: String) throws -> String? {
        guard let v else { return nil }
        return try string(v, p)
    }

    func int(_ v: JSONValue?, _ p: String, min: Int64 = 0) throws -> Int64 {
        guard let i = v?.int64Value, i >= min else { throw fail(p, "must be an integer of at least \(min)") }
        return i
    }

    func digest(_ v: JSONValue?, _ p: String) throws -> SHA256Digest {
        guard let s = v?.stringValue, let d = SHA256Digest(hex: s) else {
            throw fail(p, "must be 64 lower-case hex digits")
        }
        return d
    }

    func array(_ v: JSONValue?, _ p: String) throws -> [JSONValue] {
        guard let a = v?.arrayValue else { throw fail(p, "must be an array") }
        return a
    }
}
