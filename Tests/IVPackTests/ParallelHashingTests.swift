import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Build and verify hash on several threads (whole-file digests on one queue, chunk digests on
/// others; verify reads large files in place from worker threads). These tests check the digests
/// against a plain single-threaded computation and the verdicts against each other.
@Suite struct ParallelHashingTests {
    /// Deterministic bytes that differ at every position of interest.
    static func pattern(_ count: Int, seed: UInt32) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var x = seed | 1
        for i in out.indices {
            x ^= x << 13
            x ^= x >> 17
            x ^= x << 5
            out[i] = UInt8(truncatingIfNeeded: x)
        }
        return out
    }

    /// A release whose `licences` component holds `files` (name → bytes), with `chunkSize`.
    static func release(chunkSize: String, files: [(String, [UInt8])]) -> ReleaseFixture {
        let release = ReleaseFixture()
        var spec = String(decoding: release.folder.read("ivpack.yaml"), as: UTF8.self)
        spec = spec.replacingOccurrences(of: "chunkSize: 64KiB", with: "chunkSize: \(chunkSize)")
        spec = spec.replacingOccurrences(
            of: "paths: [LICENSE.txt]", with: "paths: [\(files.map(\.0).joined(separator: ", "))]")
        release.folder.write("ivpack.yaml", spec)
        for (name, bytes) in files { release.folder.write(name, bytes) }
        return release
    }

    static func digest(_ bytes: ArraySlice<UInt8>) -> SHA256Digest {
        SHA256Digest.of(bytes)
    }

    @Test(arguments: [(64 << 10, "64KiB"), (4 << 20, "4MiB"), (8 << 20, "8MiB")])
    func buildDigestsMatchASingleThreadedComputation(chunk: (size: Int, text: String)) throws {
        // Pieces are 4 MiB: 64 KiB chunks lie inside a piece, 8 MiB chunks span two pieces.
        let files: [(String, [UInt8])] = [
            ("LICENSE.txt", Self.pattern(9 * (1 << 20) + 12_345, seed: 7)),
            ("empty.bin", []),
            ("piece.bin", Self.pattern(4 << 20, seed: 11)),
            ("tiny.bin", Self.pattern(1, seed: 13)),
        ]
        let release = Self.release(chunkSize: chunk.text, files: files)
        let out = TemporaryFolder()
        let built = try release.build(to: out.url("b.ivp"))
        let entries = built.manifest.components.first { $0.name == "licences" }!.files
        #expect(entries.map(\.path) == files.map { "payload/" + $0.0 })
        for (entry, (name, bytes)) in zip(entries, files) {
            #expect(entry.sha256 == Self.digest(bytes[...]), "\(name)")
            var expected: [SHA256Digest] = []
            var start = 0
            repeat {
                let end = min(start + chunk.size, bytes.count)
                expected.append(Self.digest(bytes[start..<end]))
                start = end
            } while start < bytes.count
            #expect(entry.chunks == expected, "\(name) with \(chunk.text) chunks")
        }
        // Every other file of the release too (many small files across components).
        for component in built.manifest.components where component.name != "licences" {
            for entry in component.files {
                let bytes = release.folder.read(String(entry.path.dropFirst("payload/".count)))
                #expect(entry.sha256 == Self.digest(bytes[...]), "\(entry.path)")
            }
        }
        let pki = try DevelopmentPKI.create(in: out.url("pki"), now: Timestamp.now() - 3600)
        let policy = try TrustPolicy.load(path: pki.trustPolicy)
        for workers in [1, 4] {
            let report = try BundleVerifier.verify(
                bundlePath: out.url("b.ivp"), policy: policy, now: Timestamp.now(), hashWorkers: workers)
            let payload = try #require(report.checks.first { $0.id == .payload })
            #expect(payload.status == .pass, "\(payload.details)")
        }
    }

    @Test(.clause("IQ 5.3.2")) func largeFilesAreCheckedInPlaceWithTheSameResultOnOneAndManyWorkers() throws {
        // 40 chunks of 64 KiB with an uneven tail: above the size at which verify reads in place.
        let big = Self.pattern(40 * 65536 - 777, seed: 3)
        let release = Self.release(chunkSize: "64KiB", files: [("LICENSE.txt", big)])
        let out = TemporaryFolder()
        _ = try release.build(to: out.url("b.ivp"))
        let at = try #require(BundleSurgery.offset(of: Array(big.prefix(4096)), in: out.url("b.ivp")))
        for chunk in [0, 3, 39] { BundleSurgery.flipByte(in: out.url("b.ivp"), at: at + chunk * 65536 + 500) }
        let pki = try DevelopmentPKI.create(in: out.url("pki"), now: Timestamp.now() - 3600)
        let policy = try TrustPolicy.load(path: pki.trustPolicy)
        let (one, many) = try verifyWithOneAndEightWorkers(out.url("b.ivp"), policy: policy)
        #expect(one.checks == many.checks)
        let payload = try #require(one.checks.first { $0.id == .payload })
        #expect(payload.status == .fail)
        #expect(payload.details.count == 3)
        #expect(payload.details[0].contains("payload/LICENSE.txt: chunk 0 (bytes 0 to 65535)"))
        #expect(payload.details[1].contains("chunk 3 (bytes 196608 to 262143)"))
        #expect(payload.details[2].contains("chunk 39 (bytes 2555904 to \(big.count - 1))"))
    }

    @Test(.clause("IQ 6.2.2 f")) func aBundleCutInsideALargeFileNamesTheChunkWhereItEnds() throws {
        let big = Self.pattern(40 * 65536, seed: 5)
        let release = Self.release(chunkSize: "64KiB", files: [("LICENSE.txt", big)])
        let out = TemporaryFolder()
        _ = try release.build(to: out.url("b.ivp"))
        let at = try #require(BundleSurgery.offset(of: Array(big.prefix(4096)), in: out.url("b.ivp")))
        #expect(truncate(out.url("b.ivp"), off_t(at + 30 * 65536 + 10)) == 0)
        let pki = try DevelopmentPKI.create(in: out.url("pki"), now: Timestamp.now() - 3600)
        let policy = try TrustPolicy.load(path: pki.trustPolicy)
        let report = try BundleVerifier.verify(bundlePath: out.url("b.ivp"), policy: policy, now: Timestamp.now())
        #expect(report.failedIDs.contains(.payload))
        #expect(report.failedIDs.contains(.entries))
        let payload = try #require(report.checks.first { $0.id == .payload })
        #expect(payload.details.contains { $0.contains("the bundle ends inside chunk 30") }, "\(payload.details)")
        // Every chunk after the cut is missing too, but the first missing one is named first.
        #expect(payload.details.first?.contains("chunk 30") == true)
    }

    @Test func smallFilesInSharedBatchesAreCheckedOneByOneWithTheSameResultOnOneAndManyWorkers() throws {
        // 120 small files of 1 byte to 200 KiB (64 KiB chunks: up to 4 chunks each) share batch
        // buffers of about 1 MiB; a file may start in one batch and its next chunk lie in another.
        let files: [(String, [UInt8])] = (0..<120).map { i in
            ("small/f\(i).bin", Self.pattern(1 + (i * 7919) % (200 << 10), seed: UInt32(2 * i + 101)))
        }
        let release = Self.release(chunkSize: "64KiB", files: files)
        let out = TemporaryFolder()
        let built = try release.build(to: out.url("b.ivp"))
        let pki = try DevelopmentPKI.create(in: out.url("pki"), now: Timestamp.now() - 3600)
        let policy = try TrustPolicy.load(path: pki.trustPolicy)
        let now = Timestamp.now()
        let intact = try BundleVerifier.verify(bundlePath: out.url("b.ivp"), policy: policy, now: now, hashWorkers: 3)
        #expect(intact.checks.first { $0.id == .payload }?.status == .pass)

        // One flipped byte in chunk 2 of a file of 3-4 chunks, in the last byte of a later file and
        // in the first byte of the last file.
        let a = try #require((30..<120).first { files[$0].1.count > 2 * 65536 + 100 })
        let b = try #require(((a + 1)..<119).first { files[$0].1.count > 4096 })
        let (fa, fb, fz) = (files[a].1, files[b].1, files[119].1)
        for (bytes, at) in [(fa, 2 * 65536 + 99), (fb, fb.count - 1), (fz, 0)] {
            let start = try #require(BundleSurgery.offset(of: Array(bytes.prefix(4096)), in: out.url("b.ivp")))
            BundleSurgery.flipByte(in: out.url("b.ivp"), at: start + at)
        }
        let (one, many) = try verifyWithOneAndEightWorkers(out.url("b.ivp"), policy: policy)
        #expect(one.checks == many.checks)
        let payload = try #require(one.checks.first { $0.id == .payload })
        let lastChunkB = (fb.count - 1) / 65536
        #expect(
            payload.details == [
                "payload/small/f\(a).bin: chunk 2 (bytes 131072 to \(min(fa.count, 3 * 65536) - 1)) does not match its SHA-256 in the manifest",
                "payload/small/f\(b).bin: chunk \(lastChunkB) (bytes \(lastChunkB * 65536) to \(fb.count - 1)) does not match its SHA-256 in the manifest",
                "payload/small/f119.bin: chunk 0 (bytes 0 to \(min(fz.count, 65536) - 1)) does not match its SHA-256 in the manifest",
            ], "\(payload.details)")
        #expect(built.manifest.allFiles.count > 120)
    }
}
