/// Text that came from outside (an entry name in a bundle, a field of a file) made safe to put in
/// a message: a hostile name must not move the terminal's cursor, recolour it, reorder what
/// follows it, or fill the screen.
public enum Display {
    /// Longest name shown in full; longer ones are cut in the middle and their length is given.
    public static let maxLength = 160

    /// `text` with control characters (C0, DEL, C1), bidirectional controls and other invisible
    /// format characters written as `\u{…}` escapes, cut to about `maxLength` characters.
    public static func name(_ text: String) -> String {
        var out = ""
        let scalars = Array(text.unicodeScalars)
        let cut = scalars.count > maxLength
        for (i, s) in scalars.enumerated() {
            if cut && i == maxLength / 2 {
                out += "…(\(scalars.count) characters)…"
                continue
            }
            if cut && i > maxLength / 2 && i < scalars.count - maxLength / 2 { continue }
            if needsEscape(s) {
                out += "\\u{\(String(s.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(s)
            }
        }
        return out
    }

    /// Raw bytes that may not be UTF-8: valid UTF-8 as by `name(_:)`, otherwise every byte outside
    /// printable ASCII as `\xNN`.
    public static func name(bytes: [UInt8]) -> String {
        if !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) { return name(text) }
        var out = ""
        for (i, b) in bytes.enumerated() {
            if i == maxLength {
                out += "…(\(bytes.count) bytes)"
                break
            }
            if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return out
    }

    static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x00...0x1F, 0x7F...0x9F: return true // C0, DEL, C1 (ESC starts terminal sequences)
        // Zero-width, line and paragraph separators, bidi controls.
        case 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x2069, 0xFEFF: return true
        default: return false
        }
    }
}
