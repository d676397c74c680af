/// Human-readable JSON for command output: two-space indentation, keys sorted, one value per line.
public enum PrettyJSON {
    /// The text of `value`, without a trailing newline.
    public static func render(_ value: JSONValue) -> String {
        var out = ""
        write(value, indent: 0, into: &out)
        return out
    }

    private static func write(_ value: JSONValue, indent: Int, into out: inout String) {
        let pad = String(repeating: "  ", count: indent + 1)
        let closePad = String(repeating: "  ", count: indent)
        switch value {
        case .array(let elements) where !elements.isEmpty:
            out += "[\n"
            for (i, e) in elements.enumerated() {
                out += pad
                write(e, indent: indent + 1, into: &out)
                out += i + 1 < elements.count ? ",\n" : "\n"
            }
            out += closePad + "]"
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            for (i, m) in sorted.enumerated() {
                out += pad + String(decoding: CanonicalJSON.encode(.string(m.key)), as: UTF8.self) + ": "
                write(m.value, indent: indent + 1, into: &out)
                out += i + 1 < sorted.count ? ",\n" : "\n"
            }
            out += closePad + "}"
        default:
            out += String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
        }
    }
}
