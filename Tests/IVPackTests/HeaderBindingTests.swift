import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Issue 14: a signed bundle's tar headers, padding and end marker are bound byte for byte. Each
/// hostile case is made outside ivpack's writer (raw header edits, headers made by Python's
/// tarfile) from a real bundle signed by both roles; verify must fail `entries` naming the entry,
/// the field or header and the byte offset, and a standard reader must show that the change
/// matters (another tree than the signed one): the reason the check exists.
@Suite(.serialized) struct HeaderBindingTests {
    static let python = """
        import tarfile, sys, json, hashlib
        def view(path):
            out = []
            with tarfile.open(path) as t:
                for m in t.getmembers():
                    data = t.extractfile(m).read() if m.isfile() else b""
                    out.append([m.name, m.type.decode("latin-1"), m.mode, m.uid, m.gid, m.uname, m.gname, int(m.mtime), m.size,
                                hashlib.sha256(data).hexdigest(), sorted(m.pax_headers.items())])
            return out
        def ustar(path):
            # What a reader of the ustar fields alone sees: names and sizes, no pax records.
            out, data, at = [], open(path, "rb").read(), 0
            while at + 512 <= len(data) and data[at:at + 512] != bytes(512):
                h = data[at:at + 512]
                size = int(h[124:136].strip(b"\\0 ") or b"0", 8)
                out.append([h[0:100].rstrip(b"\\0").decode("latin-1"), chr(h[156]), size])
                at += 512 + (size + 511) // 512 * 512
            return out
        print(json.dumps({"tarfile": view(sys.argv[1]), "ustar": ustar(sys.argv[1])}))
        """

    /// The views of `file` by Python's tarfile and by a ustar-only reader, as JSON text.
    static func views(_ file: String) -> (tarfile: String, ustar: String) {
        let r = run("/usr/bin/env", ["python3", "-c", python, file])
        guard r.status == 0, let value = try? JSONParser.parse(Array(r.stdout.utf8)) else {
            return ("error: \(r.stderr)", "error")
        }
        return ("\(value["tarfile"] ?? .null)", "\(value["ustar"] ?? .null)")
    }

    /// Header bytes made by Python's tarfile (a global header, or a member's pax header).
    static func pythonHeader(_ code: String) throws -> [UInt8] {
        let r = run("/usr/bin/env", ["python3", "-c", "import tarfile, sys; sys.stdout.buffer.write(\(code))"])
        guard r.status == 0 else { throw TestFailure("python: \(r.stderr)") }
        return Array(r.stdout.utf8)
    }

    struct Layout {
        var name: String
        var headerStart: Int
        var dataOffset: Int
        var size: Int
    }

    static func layout(_ bundle: String) throws -> [Layout] {
        let reader = try TarReader(path: bundle)
        var out: [Layout] = []
        while let e = try reader.next() {
            out.append(
                Layout(
                    name: e.path ?? "", headerStart: Int(e.dataOffset) - 512, dataOffset: Int(e.dataOffset),
                    size: Int(e.size)))
        }
        return out
    }

    static func setField(_ bytes: inout [UInt8], header: Int, offset: Int, _ value: [UInt8]) {
        for (i, b) in value.enumerated() { bytes[header + offset + i] = b }
        for i in 148..<156 { bytes[header + i] = 0x20 }
        let sum = bytes[header..<(header + 512)].reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        let field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 0x20]
        for (i, b) in field.enumerated() { bytes[header + 148 + i] = b }
    }

    struct Case {
        var name: String
        var bytes: [UInt8]
        /// Every one of these must be in the `entries` details.
        var message: [String]
        /// Which reader sees another tree: "tarfile", "ustar" or "gnu-ignore-zeros".
        var reader: String
    }

    static func cases(_ bundle: [UInt8], _ entries: [Layout]) throws -> [Case] {
        let script = try #require(entries.first { $0.name == "payload/service/run.sh" })
        let license = try #require(entries.first { $0.name == "payload/LICENSE.txt" })
        let signature = try #require(entries.first { $0.name.hasPrefix("ivpack/signatures/001") })
        var out: [Case] = []
        func edit(
            _ name: String, _ entry: Layout, _ offset: Int, _ value: String, _ message: [String],
            reader: String = "tarfile"
        ) {
            var b = bundle
            setField(&b, header: entry.headerStart, offset: offset, Array(value.utf8) + [0])
            // The first byte of the field that changed: where verify must point.
            let at = (entry.headerStart + offset..<entry.headerStart + 512).first { b[$0] != bundle[$0] }!
            out.append(
                Case(name: name, bytes: b, message: message + ["\"\(entry.name)\"", "byte \(at):"], reader: reader))
        }
        edit(
            "mode 0777", license, 100, "000777 ",
            ["field mode of the file's ustar header is \"000777 \", ivpack writes \"000644 \""])
        edit("setuid 04755", script, 100, "004755 ", ["field mode", "\"004755 \", ivpack writes \"000755 \""])
        edit("mode 0000", license, 100, "000000 ", ["field mode", "\"000000 \""])
        edit("uid 1000", license, 108, "001750 ", ["field uid", "\"001750 \", ivpack writes \"000000 \""])
        edit("gid 1000", license, 116, "001750 ", ["field gid"])
        edit("uname root", license, 265, "root", ["field uname", "\"root\", ivpack writes \"\""])
        edit("gname wheel", license, 297, "wheel", ["field gname"])
        edit("mtime", license, 136, "00000000001", ["field mtime"])
        edit(
            "signature entry mode 0600", signature, 100, "000600 ",
            ["field mode", "\"000600 \", ivpack writes \"000644 \""])

        func insert(
            _ name: String, before entry: Layout, _ header: [UInt8], _ message: [String], reader: String = "tarfile"
        ) {
            let b = Array(bundle[..<entry.headerStart]) + header + Array(bundle[entry.headerStart...])
            out.append(
                Case(
                    name: name, bytes: b, message: message + ["\"\(entry.name)\"", "byte \(entry.headerStart)"],
                    reader: reader))
        }
        insert(
            "global pax header with path", before: license,
            try pythonHeader(#"tarfile.TarInfo.create_pax_global_header({"path": "../../ivpack-global-escape"})"#),
            ["a global pax header ('g'), which ivpack does not write here"])
        for (key, value) in [
            ("SCHILY.xattr.security.capability", "\\x01\\x00\\x00\\x02"), ("LIBARCHIVE.xattr.user.evil", "eA=="),
            ("SCHILY.acl.access", "user::rwx,group::rwx,other::rwx"), ("uid", "1000"), ("uname", "root"),
        ] {
            // The 'x' header and its records only: the file's own header follows.
            let header = try pythonHeader(
                #"tarfile.TarInfo._create_pax_generic_header({"\#(key)": "\#(value)"}, tarfile.XHDTYPE, "utf-8")"#)
            insert(
                "pax record \(key)", before: license, header,
                ["a pax extended header ('x'), which ivpack does not write here"])
        }
        // A pax size that agrees with the data, while the ustar field says otherwise: libarchive
        // reads the right bytes (the digests match), a ustar-only reader another member.
        do {
            var b = bundle
            setField(
                &b, header: license.headerStart, offset: 124, Array(String(format: "%011o ", license.size + 512).utf8))
            let pax = try pythonHeader(
                #"tarfile.TarInfo._create_pax_generic_header({"size": "\#(license.size)"}, tarfile.XHDTYPE, "utf-8")"#)
            b = Array(b[..<license.headerStart]) + pax + Array(b[license.headerStart...])
            out.append(
                Case(
                    name: "pax size differs from the ustar size", bytes: b,
                    message: [
                        "\"payload/LICENSE.txt\"", "a pax extended header ('x'), which ivpack does not write here",
                        "byte \(license.headerStart)",
                    ], reader: "ustar"))
        }
        do {
            var label = [UInt8](repeating: 0, count: 512)
            for (i, c) in "EVIL VOLUME".utf8.enumerated() { label[i] = c }
            label[156] = UInt8(ascii: "V")
            setField(&label, header: 0, offset: 100, Array("000644 ".utf8) + [0])
            setField(&label, header: 0, offset: 124, Array("00000000000 ".utf8))
            insert(
                "GNU volume label", before: license, label,
                ["a GNU volume label ('V'), which ivpack does not write here"])
        }
        // An entry after the end-of-archive marker: `tar --ignore-zeros` extracts it.
        do {
            let extra = BundleSurgery.Entry(
                path: "payload/extra.sh", data: Array("echo owned\n".utf8), permissions: 0o755
            ).ivpackBytes
            out.append(
                Case(
                    name: "entry after the end marker", bytes: bundle + extra + TarHeaderFormat.endOfArchive,
                    message: ["bytes follow the end-of-archive marker at byte \(bundle.count - 1024)"],
                    reader: "gnu-ignore-zeros"))
        }
        return out
    }

    @Test func everyHostileHeaderFailsVerifyAndChangesWhatAReaderExtracts() throws {
        let s = try SignedRelease()
        let original = [UInt8](FileManager.default.contents(atPath: s.bundle)!)
        #expect(try s.verify().passed)
        let entries = try Self.layout(s.bundle)
        let originalViews = Self.views(s.bundle)
        let originalGNU = run("/usr/bin/tar", ["-tif", s.bundle]).stdout
        for c in try Self.cases(original, entries) {
            let file = s.folder.url("hostile-\(c.name.replacingOccurrences(of: " ", with: "-")).ivp")
            _ = FileManager.default.createFile(atPath: file, contents: Data(c.bytes))
            let report = try s.verify(file)
            let entriesCheck = report.checks.first { $0.id == .entries }
            #expect(entriesCheck?.status == .fail, "\(c.name): \(report.failureText)")
            let details = entriesCheck?.details.joined(separator: "\n") ?? ""
            for m in c.message {
                #expect(details.contains(m), "\(c.name): expected \(m) in\n\(details)")
            }
            // The reason: a standard reader extracts something else than what was signed.
            switch c.reader {
            case "gnu-ignore-zeros":
                #expect(run("/usr/bin/tar", ["-tif", file]).stdout != originalGNU, "\(c.name)")
            case "ustar":
                // BusyBox tar (1.35, Debian's) reads the ustar size field and ignores a pax `size`:
                // it lists another member than GNU tar and libarchive do.
                let v = Self.views(file)
                #expect(!v.ustar.hasPrefix("error") && v.ustar != originalViews.ustar, "\(c.name)")
                let busybox = run("/bin/busybox", ["tar", "-tvf", file])
                let busyboxOriginal = run("/bin/busybox", ["tar", "-tvf", s.bundle])
                #expect(
                    busyboxOriginal.status == 0,
                    "busybox tar is needed (scripts/install-deps.sh): \(busyboxOriginal.stderr)")
                #expect(
                    busybox.stdout + busybox.stderr != busyboxOriginal.stdout + busyboxOriginal.stderr,
                    "\(c.name): busybox tar sees the same")
            default:
                let v = Self.views(file)
                #expect(
                    v.tarfile != originalViews.tarfile, "\(c.name): Python's tarfile sees the same tree\n\(v.tarfile)")
            }
        }
    }

    /// Every byte of every header block, every padding region and the end-of-archive marker of a
    /// signed bundle, flipped one at a time (about 13,000): the bundle reader (what verify's `entries` check
    /// and sign use) refuses each, and a dozen spread over them go through the whole verify
    /// (which also probes the machine for the environment check: too slow for all ~13,000).
    @Test func everyFlippedHeaderPaddingOrEndByteIsRefused() throws {
        let s = try SignedRelease()
        let original = [UInt8](FileManager.default.contents(atPath: s.bundle)!)
        let entries = try Self.layout(s.bundle)
        var offsets: [Int] = []
        var previousEnd = 0
        for e in entries {
            offsets += Array(previousEnd..<e.dataOffset) // the previous entry's padding, then this entry's headers
            previousEnd = e.dataOffset + e.size
        }
        offsets += Array(previousEnd..<original.count) // the last padding and the end-of-archive marker
        #expect(offsets.count > entries.count * 512)
        // In memory where the machine has /dev/shm: 10,000 rewrites of the file on disk cost more than the checks.
        let shm =
            FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/ivpack-flip-\(UUID().uuidString).ivp" : nil
        let file = shm ?? s.folder.url("flipped.ivp")
        defer { if let shm { try? FileManager.default.removeItem(atPath: shm) } }
        var accepted: [Int] = []
        for (n, offset) in offsets.enumerated() {
            var b = original
            b[offset] ^= 0x01
            _ = FileManager.default.createFile(atPath: file, contents: Data(b))
            if Self.readerAccepts(file) { accepted.append(offset) }
            if n % (offsets.count / 12) == 0 {
                #expect(try !s.verify(file).passed, "flip at byte \(offset) passed verify")
            }
        }
        #expect(accepted.isEmpty, "flips accepted at bytes \(accepted.prefix(20))")
    }

    static func readerAccepts(_ file: String) -> Bool {
        guard let reader = try? BundleReader(path: file, blockSize: 16 << 10) else { return false }
        do {
            while let e = try reader.next() {
                if case .payload(_, let record) = e.kind, record.size != e.tar.size { return false }
            }
        } catch { return false }
        return reader.problems.isEmpty
    }

    /// A bundle cut after the first zero block of its end marker: both verify and sign call it cut.
    @Test func signAndVerifyAgreeOnACompleteBundle() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let original = [UInt8](FileManager.default.contents(atPath: s.bundle)!)
        let cut = s.folder.url("cut.ivp")
        _ = FileManager.default.createFile(atPath: cut, contents: Data(original.dropLast(512)))
        let report = try s.verify(cut)
        #expect(
            report.failureText.contains("is cut short (512 of its 1024 zero bytes are there)"), "\(report.failureText)")
        let error = #expect(throws: InputError.self) { try s.sign(role: "quality", bundle: cut) }
        #expect(error?.kind == .bundle)
        #expect([UInt8](FileManager.default.contents(atPath: cut)!) == Array(original.dropLast(512)))
    }

    /// The property of docs/bundle-format.md: build + sign write exactly the bytes the reader expects.
    @Test func builtAndSignedBundleHasNoStructuralProblem() throws {
        let s = try SignedRelease()
        let reader = try BundleReader(path: s.bundle)
        try reader.readToEnd()
        #expect(reader.problems.isEmpty, "\(reader.problems)")
        #expect(reader.signatureNames.map(\.role) == ["release-manager", "quality"])
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
