/// Says where and how an entry's raw header bytes differ from what ivpack writes: which header
/// block, which field or pax record, found and expected. Only for messages: it parses the found
/// bytes defensively (any length, any content) and never decides anything itself.
enum HeaderDifference {
    struct Block {
        var offset: Int
        var typeflag: UInt8
        var header: ArraySlice<UInt8>
        /// The data of a pax or other meta header (records), empty for the file's own header.
        var data: ArraySlice<UInt8>
    }

    /// Meta header types: their data describes the next entry (pax, GNU long names, volume label).
    static let metaTypes: Set<UInt8> = Set("xgXLKVMNS".utf8)

    /// Splits header bytes into blocks: meta headers with their data, up to the first file header.
    static func blocks(_ bytes: [UInt8]) -> [Block] {
        var out: [Block] = []
        var at = 0
        while at + 512 <= bytes.count {
            let header = bytes[at..<(at + 512)]
            let type = header[header.startIndex + 156]
            var dataLength = 0
            if metaTypes.contains(type),
                let size = octalValue(header[(header.startIndex + 124)..<(header.startIndex + 136)])
            {
                dataLength = Int(min(size, Int64(bytes.count - at - 512)))
            }
            let dataEnd = at + 512 + dataLength
            out.append(Block(offset: at, typeflag: type, header: header, data: bytes[(at + 512)..<dataEnd]))
            if !metaTypes.contains(type) { break }
            at = dataEnd + TarHeaderFormat.paddingCount(Int64(dataLength))
        }
        return out
    }

    static func octalValue(_ field: ArraySlice<UInt8>) -> Int64? {
        var v: Int64 = 0
        var any = false
        for b in field {
            if b == 0 || b == 0x20 { if any { break } else { continue } }
            guard b >= 0x30 && b <= 0x37, v < Int64.max >> 3 else { return nil }
            v = v << 3 | Int64(b - 0x30)
            any = true
        }
        return any ? v : nil
    }

    static func typeName(_ t: UInt8) -> String {
        switch t {
        case UInt8(ascii: "x"): return "a pax extended header ('x')"
        case UInt8(ascii: "g"): return "a global pax header ('g')"
        case UInt8(ascii: "V"): return "a GNU volume label ('V')"
        case UInt8(ascii: "L"), UInt8(ascii: "K"): return "a GNU long-name header ('\(Character(Unicode.Scalar(t)))')"
        case UInt8(ascii: "0"), 0: return "the file's ustar header"
        default:
            let shown = t >= 0x20 && t < 0x7F ? "'\(Character(Unicode.Scalar(t)))'" : "byte \(t)"
            return "a header of type \(shown)"
        }
    }

    /// pax records as (key, value, offset of the record) pairs; stops at the first malformed one.
    static func records(_ data: ArraySlice<UInt8>) -> [(key: String, value: [UInt8], offset: Int)] {
        var out: [(String, [UInt8], Int)] = []
        var at = data.startIndex
        while at < data.endIndex {
            guard let space = data[at...].firstIndex(of: 0x20),
                let length = Int(String(decoding: data[at..<space], as: UTF8.self)),
                length > 0, at + length <= data.endIndex,
                let equals = data[space..<(at + length)].firstIndex(of: UInt8(ascii: "="))
            else { break }
            let key = String(decoding: data[(space + 1)..<equals], as: UTF8.self)
            out.append((key, Array(data[(equals + 1)..<(at + length - 1)]), at - data.startIndex))
            at += length
        }
        return out
    }

    static func shown(_ bytes: some Collection<UInt8>) -> String {
        var b = Array(bytes)
        while b.last == 0 { b.removeLast() }
        return "\"" + Display.name(bytes: b) + "\""
    }

    /// The first difference between `found` and `expected` header bytes, which start at byte
    /// `base` of the bundle.
    static func describe(found: [UInt8], expected: [UInt8], at base: Int64) -> (offset: Int64, text: String) {
        let f = blocks(found)
        let e = blocks(expected)
        // A header ivpack does not write, or one missing.
        for i in 0..<max(f.count, e.count) {
            let fb = i < f.count ? f[i] : nil
            let eb = i < e.count ? e[i] : nil
            switch (fb, eb) {
            case (let fb?, let eb?) where fb.typeflag != eb.typeflag:
                if metaTypes.contains(fb.typeflag) {
                    return (base + Int64(fb.offset), "\(typeName(fb.typeflag)), which ivpack does not write here")
                }
                return (
                    base + Int64(fb.offset), "\(typeName(fb.typeflag)) where ivpack writes \(typeName(eb.typeflag))"
                )
            case (let fb?, nil):
                return (base + Int64(fb.offset), "\(typeName(fb.typeflag)), which ivpack does not write here")
            case (nil, let eb?):
                return (base + Int64(found.count), "\(typeName(eb.typeflag)) is missing")
            default: break
            }
        }
        // Same headers: pax records first (an extra record changes the pax header's size too).
        for (fb, eb) in zip(f, e) where fb.typeflag == UInt8(ascii: "x") {
            let fr = records(fb.data)
            let er = records(eb.data)
            for (i, r) in fr.enumerated() {
                let at = base + Int64(fb.offset + 512 + r.offset)
                guard let expectedValue = er.first(where: { $0.key == r.key })?.value else {
                    return (at, "pax record \"\(Display.name(r.key))\", which ivpack does not write")
                }
                if r.value != expectedValue {
                    return (
                        at,
                        "pax record \(Display.name(r.key)) is \(shown(r.value)), ivpack writes \(shown(expectedValue))"
                    )
                }
                if i < er.count, er[i].key != r.key {
                    return (at, "pax records in another order than ivpack writes them")
                }
            }
            if let missing = er.first(where: { r in !fr.contains { $0.key == r.key } }) {
                return (base + Int64(fb.offset + 512), "pax record \"\(missing.key)\" is missing")
            }
        }
        // A field of a header block.
        for (fb, eb) in zip(f, e) {
            let fh = Array(fb.header)
            let eh = Array(eb.header)
            // The checksum follows from the other fields: name it only when nothing else differs.
            let differs = (0..<512).filter { fh[$0] != eh[$0] }
            if let i = differs.first(where: { !(148..<156).contains($0) }) ?? differs.first {
                let field = TarHeaderFormat.fields.first { $0.range.contains(i) }!
                return (
                    base + Int64(fb.offset + i),
                    "field \(field.name) of \(typeName(fb.typeflag)) is \(shown(fh[field.range])), ivpack writes \(shown(eh[field.range]))"
                )
            }
            if fb.data != eb.data,
                let i = zip(fb.data, eb.data).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset
            {
                return (base + Int64(fb.offset + 512 + i), "the data of \(typeName(fb.typeflag)) differs")
            }
        }
        if found.count != expected.count {
            return (
                base + Int64(min(found.count, expected.count)),
                "\(found.count) bytes of headers where ivpack writes \(expected.count)"
            )
        }
        let i = zip(found, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? 0
        return (base + Int64(i), "a byte differs (the padding of a pax header)")
    }
}
