import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Hostile bundles (issue 8): each built from a real, validly signed bundle by a raw tar writer,
/// each refused by `verify` with the precise problem, in bounded time and memory, and nothing
/// written anywhere.
@Suite struct HostileBundleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        /// The check that must fail and text its details must contain.
        var check: CheckID
        var message: String
        var testDescription: String { name }
    }

    /// A unique file name that no test creates: must not exist anywhere after any verify.
    static let canary = "ivpack-canary-\(UUID().uuidString)"

    static func cases(_ h: HostileBundles) throws -> [Case] {
        let c = canary
        let license = try #require(h.payloadEntries.first { $0.path == "payload/LICENSE.txt" })
        var list: [Case] = [
            Case(
                name: "dot-dot traversal", bytes: h.inserting(RawTar.file("payload/../../\(c)", [1])),
                check: .entries,
                message: "\"payload/../../\(c)\": unsafe name: the path leaves the release folder through '..'"),
            Case(
                name: "dot-dot inside the payload", bytes: h.inserting(RawTar.file("payload/service/../\(c)", [1])),
                check: .entries, message: "unsafe name: the path goes through '..'"),
            Case(
                name: "absolute path", bytes: h.inserting(RawTar.file("/tmp/\(c)", [1])),
                check: .entries, message: "\"/tmp/\(c)\": unsafe name: the path is absolute"),
            Case(
                name: "./../", bytes: h.inserting(RawTar.file("./../\(c)", [1])),
                check: .entries, message: "\"./../\(c)\": unsafe name: the path leaves the release folder"),
            Case(
                name: "backslashes", bytes: h.inserting(RawTar.file("payload\\..\\..\\\(c)", [1])),
                check: .entries, message: "unsafe name: the path contains a backslash"),
            Case(
                name: "Unicode look-alike of a listed file",
                bytes: h.inserting(RawTar.file("payload/LICENSE\u{2024}txt", [1])),
                check: .entries, message: "entry \"payload/LICENSE\u{2024}txt\" is not in the manifest"),
            Case(
                name: "full-width dots", bytes: h.inserting(RawTar.file("payload/\u{FF0E}\u{FF0E}/\(c)", [1])),
                check: .entries, message: "is not in the manifest"),
            Case(
                name: "NUL inside the name",
                bytes: h.inserting(RawTar.file(Array("payload/x".utf8) + [0] + Array("/../../\(c)".utf8), [1])),
                check: .entries, message: "entry \"payload/x\" is not in the manifest"),
            Case(
                name: "terminal escape in the name",
                bytes: h.inserting(RawTar.file("payload/\u{1B}[2J\u{1B}]0;owned\u{07}", [1])),
                check: .entries,
                message:
                    "\"payload/\\u{1b}[2J\\u{1b}]0;owned\\u{7}\": unsafe name: the path contains a control character"),
            Case(
                name: "invalid UTF-8 name",
                bytes: h.inserting(RawTar.file(Array("payload/".utf8) + [0xC3, 0x28, 0xFF], [1])),
                check: .entries, message: "\"payload/\\xc3(\\xff\": the name is not valid UTF-8 or contains NUL"),
            Case(
                name: "symbolic link escaping",
                bytes: h.inserting(
                    RawTar.header(
                        name: Array("payload/evil".utf8), size: 0, type: .symbolicLink,
                        linkName: Array("../../../etc/passwd".utf8))),
                check: .entries,
                message: "entry \"payload/evil\": a link to \"../../../etc/passwd\"; bundles hold regular files only"),
            Case(
                name: "hard link escaping",
                bytes: h.inserting(
                    RawTar.header(
                        name: Array("payload/evil".utf8), size: 0, type: .hardLink, linkName: Array("/etc/shadow".utf8))
                ),
                check: .entries,
                message: "entry \"payload/evil\": a link to \"/etc/shadow\"; bundles hold regular files only"),
            Case(
                name: "character device",
                bytes: h.inserting(RawTar.header(name: Array("payload/null".utf8), size: 0, type: .characterDevice)),
                check: .entries, message: "entry \"payload/null\": a character device; bundles hold regular files only"),
            Case(
                name: "block device",
                bytes: h.inserting(RawTar.header(name: Array("payload/sda".utf8), size: 0, type: .blockDevice)),
                check: .entries, message: "entry \"payload/sda\": a block device; bundles hold regular files only"),
            Case(
                name: "FIFO", bytes: h.inserting(RawTar.header(name: Array("payload/pipe".utf8), size: 0, type: .fifo)),
                check: .entries, message: "entry \"payload/pipe\": a FIFO; bundles hold regular files only"),
            Case(
                name: "directory",
                bytes: h.inserting(
                    RawTar.header(name: Array("payload/dir/".utf8), size: 0, type: .directory, mode: 0o755)),
                check: .entries, message: "entry \"payload/dir/\": a directory entry; bundles hold regular files only"),
            // The pax header claims more data than follows: the reader runs into the next headers.
            Case(
                name: "pax size larger than the data",
                bytes: h.replacing(
                    license.path,
                    with:
                        RawTar.pax([("path", Array(license.path.utf8)), ("size", Array("100000".utf8))])
                        + RawTar.header(name: Array(license.path.utf8), size: Int64(license.data.count))
                        + RawTar.padded(license.data)),
                check: .payload,
                message: "payload/LICENSE.txt: 100000 bytes in the archive, \(license.data.count) in the manifest"),
            Case(
                name: "pax size smaller than the data",
                bytes: h.replacing(
                    license.path,
                    with:
                        RawTar.pax([("path", Array(license.path.utf8)), ("size", Array("3".utf8))])
                        + RawTar.header(name: Array(license.path.utf8), size: Int64(license.data.count))
                        + RawTar.padded(license.data)),
                check: .payload,
                message: "payload/LICENSE.txt: 3 bytes in the archive, \(license.data.count) in the manifest"),
            // 1 TiB declared, a few bytes present: refused without reading or allocating 1 TiB.
            Case(
                name: "huge declared size, little data",
                bytes: h.inserting(
                    RawTar.header(name: Array("payload/huge.bin".utf8), size: 0, sizeField: RawTar.base256(1 << 40))
                        + RawTar.padded([1, 2, 3])),
                check: .entries, message: "entry \"payload/huge.bin\" is not in the manifest"),
            Case(
                name: "huge declared size on a listed file",
                bytes: h.replacing(
                    license.path,
                    with:
                        RawTar.header(name: Array(license.path.utf8), size: 0, sizeField: RawTar.base256(1 << 40))
                        + RawTar.padded(license.data)),
                check: .payload,
                message:
                    "payload/LICENSE.txt: 1099511627776 bytes in the archive, \(license.data.count) in the manifest"),
            // Two data runs with a hole between them (a map covering the whole file is not sparse).
            Case(
                name: "sparse entry",
                bytes: h.replacing(
                    license.path,
                    with:
                        RawTar.pax([
                            ("path", Array(license.path.utf8)),
                            ("GNU.sparse.size", Array(String(license.data.count + 100).utf8)),
                            ("GNU.sparse.numblocks", Array("2".utf8)),
                            ("GNU.sparse.map", Array("0,10,110,\(license.data.count - 10)".utf8)),
                        ])
                        + RawTar.header(name: Array(license.path.utf8), size: Int64(license.data.count))
                        + RawTar.padded(license.data)),
                check: .entries,
                message: "entry \"payload/LICENSE.txt\": a sparse file; bundles hold plain regular files only"),
            Case(
                name: "name of 70,000 bytes",
                bytes: h.inserting(RawTar.file("payload/" + String(repeating: "a", count: 70_000), [1])),
                check: .entries, message: "unsafe name: the path is longer than 4096 bytes"),
        ]
        // Thousands of tiny entries: every one refused, the list capped.
        var many: [UInt8] = []
        for i in 0..<5_000 {
            many += RawTar.header(name: Array("payload/junk/\(i)".utf8), size: 1) + RawTar.padded([UInt8(i & 0xFF)])
        }
        list.append(
            Case(name: "5,000 tiny entries", bytes: h.inserting(many), check: .entries, message: "… and 4950 more"))

        // A signature entry larger than a signature may be: its data is refused while reading, and
        // the entries and payload checks must say the archive was not read to its end.
        var oversized = [UInt8](FileManager.default.contents(atPath: h.signed.bundle) ?? Data())
        oversized.removeLast(RawTar.end.count)
        oversized +=
            BundleSurgery.Entry(
                path: "ivpack/signatures/003-quality.p7s",
                data: [UInt8](repeating: 0x30, count: SignedData.maxBytes + 1),
                modificationTime: h.manifestEntry.modificationTime
            ).ivpackBytes + RawTar.end
        list.append(
            Case(
                name: "signature entry over the size limit", bytes: oversized, check: .entries,
                message: "the archive cannot be read to its end"))

        // Hostile manifests, validly signed by both development roles.
        let real = String(decoding: h.manifestEntry.data, as: UTF8.self)
        #expect(real.contains("PulmoScan AI"))
        list.append(
            Case(
                name: "deeply nested JSON manifest",
                bytes: try h.withManifest(Array(String(repeating: "[", count: 100_000).utf8)),
                check: .manifest, message: "nesting deeper than the limit of"))
        var badUTF8 = h.manifestEntry.data
        let nameAt = try #require(badUTF8.firstRange(of: Array("PulmoScan AI".utf8))).lowerBound
        badUTF8[nameAt + 2] = 0xFF
        list.append(
            Case(
                name: "invalid UTF-8 in the manifest", bytes: try h.withManifest(badUTF8),
                check: .manifest, message: "invalid UTF-8 sequence starting with byte 0xFF"))
        let duplicate = try #require(
            h.manifestText(replacing: "\"format\":", with: "\"format\":\"ivpack.dev/bundle/v0\",\"format\":"))
        list.append(
            Case(
                name: "duplicate JSON key in the manifest", bytes: try h.withManifest(duplicate),
                check: .manifest, message: "duplicate key \"format\""))
        // The licences component's file listed twice.
        let fileObject = try #require(Self.licenceFileObject(in: real))
        let twice = try #require(h.manifestText(replacing: fileObject, with: fileObject + "," + fileObject))
        list.append(
            Case(
                name: "manifest lists a file twice", bytes: try h.withManifest(twice),
                check: .manifest, message: "/path \"payload/LICENSE.txt\" is listed twice"))
        return list
    }

    /// The JSON object of payload/LICENSE.txt inside the canonical manifest text.
    static func licenceFileObject(in manifest: String) -> String? {
        guard let path = manifest.range(of: "\"path\":\"payload/LICENSE.txt\"") else { return nil }
        guard let open = manifest[..<path.lowerBound].lastIndex(of: "{") else { return nil }
        guard let close = manifest[path.upperBound...].firstIndex(of: "}") else { return nil }
        return String(manifest[open...close])
    }

    @Test func everyHostileBundleIsRefusedPrecisely() throws {
        let signed = try SignedRelease()
        #expect(try signed.verify().passed, "the base bundle verifies")
        let h = try HostileBundles(signed)
        for c in try Self.cases(h) {
            let path = signed.folder.url("hostile.ivp")
            try Data(c.bytes).write(to: URL(fileURLWithPath: path))
            let report = try signed.verify(path)
            #expect(!report.passed, "\(c.name): accepted")
            let check = report.checks.first { $0.id == c.check }
            #expect(check?.status == .fail, "\(c.name): check \(c.check) did not fail: \(report.failureText)")
            #expect(
                check?.details.contains { $0.contains(c.message) } == true,
                "\(c.name): expected “\(c.message)” in \(c.check), got:\n\(report.failureText.prefix(2000))")
            // Messages stay printable and short whatever the names.
            for line in report.checks.flatMap(\.details) {
                #expect(
                    !line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) },
                    "\(c.name): control character in \(line.debugDescription.prefix(300))")
                #expect(line.utf8.count < 1_000, "\(c.name): a message of \(line.utf8.count) bytes")
            }
        }
    }

    /// A 1 GiB manifest (a real 1 GiB entry, the data a hole in the file) and a 1 TiB entry, through
    /// the command line: refused in bounded time and memory, nothing written where it runs.
    @Test func hugeEntriesAreRefusedWithBoundedMemoryAndNothingIsWritten() throws {
        let signed = try SignedRelease()
        let h = try HostileBundles(signed)
        let work = TemporaryFolder("ivpack-hostile-work")
        let cwd = work.url("cwd")
        try FileManager.default.createDirectory(atPath: cwd, withIntermediateDirectories: true)

        // Manifest entry declaring 1 GiB, followed by 1 GiB of hole and the end marker.
        let giant = work.url("giant-manifest.ivp")
        let header = RawTar.header(name: Array(Manifest.entryPath.utf8), size: 1 << 30)
        try Data(header).write(to: URL(fileURLWithPath: giant))
        #expect(truncate(giant, off_t(512 + (1 << 30) + 1024)) == 0)

        let traversal = work.url("traversal.ivp")
        try Data(
            h.inserting(
                RawTar.file("payload/../../\(Self.canary)", [1]) + RawTar.file("/tmp/\(Self.canary)", [1])
                    + RawTar.header(name: Array("payload/huge.bin".utf8), size: 0, sizeField: RawTar.base256(1 << 40)))
        )
        .write(to: URL(fileURLWithPath: traversal))

        // What verify of the intact bundle takes, for comparison.
        let baseline = runMeasured(
            ivpackExecutable, ["verify", signed.bundle, "--trust", signed.pki.trustPolicy], in: cwd)
        #expect(baseline.status == 0, "\(baseline.stdout)\(baseline.stderr)")
        #expect(baseline.maxRSSKiB > 0)
        for (bundle, message) in [
            (giant, "declares 1073741824 bytes, more than the limit of"),
            (traversal, "unsafe name: the path leaves the release folder"),
        ] {
            let before = try FileManager.default.subpathsOfDirectory(atPath: work.path).sorted()
            let r = runMeasured(ivpackExecutable, ["verify", bundle, "--trust", signed.pki.trustPolicy], in: cwd)
            #expect(r.status == 1, "\(bundle): \(r.stderr)")
            #expect((r.stdout + r.stderr).contains(message), "\(r.stdout)\n\(r.stderr)")
            #expect(
                r.maxRSSKiB > 0 && r.maxRSSKiB < baseline.maxRSSKiB + 32 * 1024,
                "peak RSS \(r.maxRSSKiB) KiB, intact bundle \(baseline.maxRSSKiB) KiB")
            #expect(r.seconds < 60)
            #expect(try FileManager.default.subpathsOfDirectory(atPath: work.path).sorted() == before)
            #expect(!FileManager.default.fileExists(atPath: "/tmp/\(Self.canary)"))
            #expect(!FileManager.default.fileExists(atPath: work.url(Self.canary)))
        }
    }
}
