import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Install's first read judges the payload's headers by their bytes alone
/// (`BundleReader.skipCanonicalPayload`): it must see what the front-to-back walk sees, or step
/// back to that walk. Real signed bundles; every change is a real byte flipped in the file.
@Suite struct CanonicalPayloadSkipTests {
    /// Everything a reader found: appended entries, problems, end marker.
    struct Walk: Equatable {
        var signatures: [String]
        var problems: [String]
        var endOfArchive: Int64?
    }

    static func walk(_ path: String, skipping: Bool) throws -> (skipped: Bool, walk: Walk) {
        let reader = try BundleReader(path: path, blockSize: 64 << 10)
        let skipped = skipping ? reader.skipCanonicalPayload() : false
        while (try? reader.next()) != nil {}
        return (
            skipped,
            Walk(
                signatures: reader.signatureNames.map(\.path), problems: reader.problems.map(\.description),
                endOfArchive: reader.endOfArchiveOffset)
        )
    }

    /// Offsets of each entry of `path`: header start, data start, size.
    static func layout(_ path: String) throws -> [(path: String, header: Int64, data: Int64, size: Int64)] {
        let reader = try BundleReader(path: path)
        var out: [(String, Int64, Int64, Int64)] = []
        while let entry = try reader.next() {
            out.append((entry.tar.path ?? "", entry.tar.headerOffset, entry.tar.dataOffset, entry.tar.size))
        }
        return out
    }

    static func changed(_ s: SignedRelease, _ name: String, _ change: (inout [UInt8]) -> Void) -> String {
        var bytes = Array(FileManager.default.contents(atPath: s.bundle)!)
        change(&bytes)
        return s.folder.write(name, bytes)
    }

    @Test func aBundleAsBuiltIsSkippedToItsSignaturesWithTheSameFindings() throws {
        let s = try SignedRelease()
        let fast = try Self.walk(s.bundle, skipping: true)
        let full = try Self.walk(s.bundle, skipping: false)
        #expect(fast.skipped)
        #expect(fast.walk == full.walk)
        #expect(fast.walk.signatures.count == 2 && fast.walk.problems.isEmpty)
    }

    @Test func aChangedPayloadHeaderByteFallsBackAndIsNamed() throws {
        let s = try SignedRelease()
        let entries = try Self.layout(s.bundle)
        let second = try #require(entries.first { $0.path.hasPrefix("payload/") && $0.size > 0 })
        // The header's mtime field (bytes 136-147 of the ustar block before the data), with the
        // checksum made right again: a header any tar reader takes, but not the one build wrote.
        let bad = Self.changed(s, "mtime.ivp") { bytes in
            let h = Int(second.data) - 512
            bytes[h + 140] = bytes[h + 140] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
            for i in 148..<156 { bytes[h + i] = UInt8(ascii: " ") }
            let sum = bytes[h..<(h + 512)].reduce(0) { $0 + Int($1) }
            let field = Array(String(format: "%06o", sum).utf8) + [0, UInt8(ascii: " ")]
            for (i, b) in field.enumerated() { bytes[h + 148 + i] = b }
        }
        let fast = try Self.walk(bad, skipping: true)
        let full = try Self.walk(bad, skipping: false)
        #expect(!fast.skipped)
        #expect(fast.walk == full.walk)
        #expect(fast.walk.problems.contains { $0.contains(second.path) }, "\(fast.walk.problems)")
        // Install refuses it in its first read, nothing written.
        let policy = try s.policy()
        let root = s.folder.url("root")
        #expect(throws: InstallError.self) {
            _ = try Installer.install(InstallRequest(bundlePath: bad, root: root, policy: policy))
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/current"))
    }

    @Test func aByteInThePaddingAfterThePayloadIsFoundAfterTheSkip() throws {
        let s = try SignedRelease()
        let entries = try Self.layout(s.bundle)
        let last = try #require(entries.last { $0.path.hasPrefix("payload/") })
        let pad = last.data + last.size
        #expect(pad % 512 != 0, "the last payload file needs padding for this test")
        let bad = Self.changed(s, "padding.ivp") { $0[Int(pad)] = 0x58 }
        let fast = try Self.walk(bad, skipping: true)
        let full = try Self.walk(bad, skipping: false)
        #expect(fast.skipped)
        #expect(fast.walk == full.walk)
        #expect(fast.walk.problems.contains { $0.contains("padding") }, "\(fast.walk.problems)")
    }

    @Test func aBundleCutInsideThePayloadFallsBack() throws {
        let s = try SignedRelease()
        let entries = try Self.layout(s.bundle)
        let last = try #require(entries.last { $0.path.hasPrefix("payload/") && $0.size > 1 })
        let bytes = Array(FileManager.default.contents(atPath: s.bundle)!)
        let cut = s.folder.write("cut.ivp", Array(bytes[..<Int(last.data + last.size / 2)]))
        let fast = try Self.walk(cut, skipping: true)
        let full = try Self.walk(cut, skipping: false)
        #expect(!fast.skipped)
        #expect(fast.walk == full.walk)
        #expect(!fast.walk.problems.isEmpty)
    }
}
