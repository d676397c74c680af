import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// ivpack writes its own tar headers (TarHeaderFormat). Where libarchive's restricted pax writer
/// needs no extension header, the bytes must be libarchive's (bundles built before are unchanged);
/// where an extension is needed, every standard reader must read back exactly the name, size,
/// mode and time ivpack meant.
@Suite struct TarHeaderFormatTests {
    /// ASCII paths of every length up to 255 with folders at varied places, plus edge cases of the
    /// ustar split (a '/' right at the limits, a leading '/'-free prefix of exactly 155).
    static var asciiPaths: [String] {
        var out: [String] = []
        for length in [1, 2, 50, 98, 99, 100, 101, 102, 150, 155, 156, 200, 254, 255, 256, 300] {
            for folder in [0, 7, 40, 99, 100, 154, 155, 156] where folder < length - 1 {
                var p = [Character](repeating: "a", count: length)
                if folder > 0 { p[folder] = "/" }
                if length > 120 { p[length - 101] = "/" }
                out.append(String(p))
            }
        }
        return out + [
            "payload/models/detector.safetensors", Manifest.entryPath, "ivpack/signatures/001-release-manager.p7s",
        ]
    }

    @Test func headersAreLibarchivesWhereNoExtensionIsNeeded() throws {
        var compared = 0
        for path in Self.asciiPaths {
            for size: Int64 in [0, 1, 511, 512, 513, 4 << 20, (1 << 33) - 1] {
                for (mode, mtime): (UInt32, Int64) in [(0o644, 0), (0o755, 1_700_000_000), (0o644, 0x7FFF_FFFE)] {
                    let ours = try #require(
                        TarHeaderFormat.headers(path: Array(path.utf8), size: size, mode: mode, mtime: mtime))
                    guard ours.count == 512 else { continue } // an extension header: not libarchive's format
                    let reference = ReferenceTarWriter()
                    #expect(
                        reference.beginFile(
                            path: Array(path.utf8), size: size, permissions: mode, modificationTime: mtime))
                    #expect(
                        reference.bytes == ours,
                        "\(path.count)-byte path \(path), size \(size), mode \(String(mode, radix: 8)), mtime \(mtime)")
                    compared += 1
                }
            }
        }
        #expect(compared > 300)
    }

    /// Names that need a pax `path` record, big sizes and late times: read back by libarchive
    /// (through ivpack's TarReader), GNU tar and Python's tarfile exactly as written.
    @Test func extensionHeadersReadBackExactly() throws {
        let folder = TemporaryFolder()
        let long = "payload/" + String(repeating: "d", count: 120) + "/" + String(repeating: "f", count: 130) + ".bin"
        let names = [
            "payload/使用说明书/操作手册 V2.3.1.pdf", "payload/ü/" + String(repeating: "x", count: 120) + ".bin", long,
            "payload/" + String(repeating: "é", count: 70) + ".txt",
        ]
        var bytes: [UInt8] = []
        for (i, name) in names.enumerated() {
            let data = Array("file \(i)\n".utf8)
            bytes += try #require(
                TarHeaderFormat.headers(
                    path: Array(name.utf8), size: Int64(data.count), mode: i % 2 == 0 ? 0o644 : 0o755,
                    mtime: i == 3 ? 0x8000_0000 : 1_700_000_000))
            bytes += data + [UInt8](repeating: 0, count: TarHeaderFormat.paddingCount(Int64(data.count)))
        }
        bytes += TarHeaderFormat.endOfArchive
        let file = folder.url("names.tar")
        _ = FileManager.default.createFile(atPath: file, contents: Data(bytes))

        let reader = try TarReader(path: file)
        var read: [(String, UInt32, Int64)] = []
        while let e = try reader.next() { read.append((e.path ?? "?", e.permissions, e.modificationTime)) }
        #expect(read.map(\.0) == names)
        #expect(read.map(\.1) == [0o644, 0o755, 0o644, 0o755])
        #expect(read.map(\.2) == [1_700_000_000, 1_700_000_000, 1_700_000_000, 0x8000_0000])

        let gnu = run("/usr/bin/tar", ["-tf", file], environment: ["LC_ALL": "C.UTF-8"])
        #expect(gnu.status == 0, "\(gnu.stderr)")
        #expect(gnu.stdout.split(separator: "\n").map(String.init) == names)
        let python = run(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import tarfile, sys, json
                t = tarfile.open(sys.argv[1])
                print(json.dumps([[m.name, m.mode, int(m.mtime), m.size, m.uid, m.gid, m.uname, m.gname] for m in t.getmembers()]))
                """, file,
            ])
        #expect(python.status == 0, "\(python.stderr)")
        let members = try JSONParser.parse(Array(python.stdout.utf8)).arrayValue ?? []
        #expect(members.compactMap { $0.arrayValue?.first?.stringValue } == names)
        #expect(
            members.allSatisfy { $0.arrayValue?.suffix(4) == [.integer(0), .integer(0), .string(""), .string("")] })

        // A size beyond the ustar octal field: a pax `size` record and the 12-digit field.
        for size: Int64 in [1 << 33, (1 << 36) + 5] {
            let header = try #require(
                TarHeaderFormat.headers(path: Array("payload/big.bin".utf8), size: size, mode: 0o644, mtime: 0))
            let big = folder.url("big-\(size).tar")
            _ = FileManager.default.createFile(atPath: big, contents: Data(header))
            let entry = try #require(try TarReader(path: big).next())
            #expect(entry.size == size)
            #expect(entry.path == "payload/big.bin")
        }
    }

    @Test func headersRefuseWhatIvpackCannotWrite() {
        #expect(TarHeaderFormat.headers(path: [], size: 1, mode: 0o644, mtime: 0) == nil)
        #expect(TarHeaderFormat.headers(path: Array("a\0b".utf8), size: 1, mode: 0o644, mtime: 0) == nil)
        #expect(TarHeaderFormat.headers(path: Array("a".utf8), size: 1, mode: 0o644, mtime: -1) == nil)
        #expect(TarHeaderFormat.headers(path: Array("a".utf8), size: -1, mode: 0o644, mtime: 0) == nil)
        #expect(
            TarHeaderFormat.headers(path: [UInt8](repeating: 0x61, count: 4097), size: 1, mode: 0o644, mtime: 0) == nil)
    }
}
