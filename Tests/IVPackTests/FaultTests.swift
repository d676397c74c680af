import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Faults (issue 8, clauses 5.2 and 6.3.1): full disk, file-size limit, read-only output, kill -9,
/// truncation at every block boundary, a licence server that never answers. Each ends with a clear
/// error, no partial output and the input unchanged.
@Suite struct FaultTests {
    /// Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN, as in CI).
    static let canMount: Bool = {
        let probe = TemporaryFolder("ivpack-mount-probe")
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe.path]).status == 0 else {
            return false
        }
        run("/bin/umount", [probe.path])
        return true
    }()

    /// A release with a 2 MiB payload file, and a digest of every input file to prove it unchanged.
    static func release() -> ReleaseFixture {
        let release = ReleaseFixture()
        release.folder.write("LICENSE.txt", ParallelHashingTests.pattern(2 << 20, seed: 17))
        return release
    }

    static func snapshot(_ folder: String) throws -> [String: SHA256Digest] {
        var out: [String: SHA256Digest] = [:]
        for path in try FileManager.default.subpathsOfDirectory(atPath: folder) {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: folder + "/" + path, isDirectory: &isDirectory)
            if !isDirectory.boolValue, let data = FileManager.default.contents(atPath: folder + "/" + path) {
                out[path] = SHA256Digest.of([UInt8](data))
            }
        }
        return out
    }

    /// Runs `ivpack build` into `output` (a folder), after `prefix` shell commands; checks exit 3,
    /// the message, an empty output folder and unchanged input.
    func expectBuildFails(
        _ release: ReleaseFixture, into output: String, prefix: String = "", message: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let before = try Self.snapshot(release.root)
        let r = runMeasured(
            ivpackExecutable, ["build", "--spec", release.specPath, "-o", output + "/b.ivp"], in: release.root,
            prefix: prefix)
        #expect(r.status == 3, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(message), "lacks “\(message)”: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(output), "the message names the output: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: output).isEmpty, "something was left in \(output)",
            sourceLocation: sourceLocation)
        #expect(try Self.snapshot(release.root) == before, "the input changed", sourceLocation: sourceLocation)
    }

    @Test func buildOverTheFileSizeLimitFailsCleanly() throws {
        let release = Self.release()
        let out = TemporaryFolder("ivpack-fault-out")
        // 256 blocks (128 or 256 KiB, depending on the shell's block unit) against a 2 MiB payload.
        try expectBuildFails(release, into: out.path, prefix: "ulimit -f 256;", message: "File too large")
    }

    @Test(.enabled(if: canMount, "needs permission to mount a tmpfs"))
    func buildOnAFullDiskFailsCleanly() throws {
        let release = Self.release()
        let out = TemporaryFolder("ivpack-fault-full")
        #expect(run("/bin/mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", out.path]).status == 0)
        defer { run("/bin/umount", [out.path]) }
        try expectBuildFails(release, into: out.path, message: "No space left on device")
        // The space is free again: nothing unnamed is held either.
        var fs = statvfs()
        #expect(statvfs(out.path, &fs) == 0)
        #expect(UInt64(fs.f_bfree) * UInt64(fs.f_frsize) >= 500 * 1024)
    }

    @Test(.enabled(if: canMount, "needs permission to mount a tmpfs"))
    func buildIntoAReadOnlyFolderFailsCleanly() throws {
        let release = Self.release()
        let out = TemporaryFolder("ivpack-fault-ro")
        #expect(run("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", out.path]).status == 0)
        defer { run("/bin/umount", [out.path]) }
        #expect(run("/bin/mount", ["-o", "remount,ro", out.path]).status == 0)
        try expectBuildFails(release, into: out.path, message: "Read-only file system")
    }

    @Test func killedBuildLeavesNoFileAndTheNextBuildSucceeds() throws {
        let release = Self.release()
        let out = TemporaryFolder("ivpack-fault-kill")
        let before = try Self.snapshot(release.root)
        // Everything is written, the manifest too; only the commit is missing. Kill it for real.
        let killed = try ivpackKilledAtFailpoint(
            ["build", "--spec", release.specPath, "-o", out.url("b.ivp")], failpoint: "build-before-commit")
        #expect(killed.stderr.contains("failpoint reached"), "\(killed.stderr)")
        #expect(killed.killedBySignal)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: out.path) == [], "a partial or temporary file was left")
        #expect(try Self.snapshot(release.root) == before)
        let again = ivpack(["build", "--spec", release.specPath, "-o", out.url("b.ivp")])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path) == ["b.ivp"])
    }

    @Test func bundleCutAtEveryBlockBoundaryIsRefusedAndSignLeavesItAlone() throws {
        let s = try SignedRelease()
        let bytes = [UInt8](FileManager.default.contents(atPath: s.bundle)!)
        #expect(bytes.count % 512 == 0)
        let policy = try s.policy()
        // Every cut up to the last block: a bundle ending in a single zero block still has its
        // end-of-archive marker (tar readers accept a lone zero block) and all of its content.
        var cut = 0
        while cut < bytes.count - 512 {
            let path = s.folder.url("cut.ivp")
            try Data(bytes[0..<cut]).write(to: URL(fileURLWithPath: path))
            let report = try s.verify(path, policy: policy)
            #expect(!report.passed, "cut at \(cut) of \(bytes.count) passed")
            // Cut anywhere before the second signature's end: some check names what is missing.
            let text = report.failureText
            #expect(
                text.contains("is in the manifest but not in the archive") || text.contains("cannot be read to its end")
                    || text.contains("the archive is empty") || text.contains("not a readable tar archive")
                    || text.contains("the bundle ends inside") || text.contains("has no valid signature")
                    || text.contains("without an end-of-archive marker") || text.contains("manifest"),
                "cut at \(cut): \(text.prefix(600))")
            // Signing a cut bundle is refused and changes nothing.
            let cutBytes = [UInt8](FileManager.default.contents(atPath: path)!)
            #expect(throws: (any Error).self, "sign accepted the bundle cut at \(cut)") {
                try s.sign(role: "quality", bundle: path)
            }
            #expect(
                [UInt8](FileManager.default.contents(atPath: path)!) == cutBytes,
                "sign changed the bundle cut at \(cut)")
            cut += 512
        }
    }

    @Test(.clause("IQ 6.3.1")) func licenceServerThatAcceptsAndNeverAnswersIsATimeoutNotAHang() throws {
        let s = try SignedRelease()
        let listener = try SilentListener()
        defer { listener.close() }
        let r = runMeasured(
            ivpackExecutable,
            [
                "verify", s.bundle, "--trust", s.pki.trustPolicy, "--license-server",
                "https://127.0.0.1:\(listener.port)",
                "--site", "SITE-1", "--client-cert", s.pki.installer.certificate, "--client-key", s.pki.installer.key,
                "--license-timeout", "1", "--license-attempts", "2",
            ], in: s.folder.path)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("no answer from 127.0.0.1:\(listener.port) within 1 s"), "\(r.stdout)\(r.stderr)")
        #expect(r.seconds < 20, "took \(r.seconds) s")
        #expect(listener.accepted >= 1, "the client never connected")
    }
}

/// A TCP listener on 127.0.0.1 that accepts connections and never sends a byte: it holds each
/// one open (a hung server), or with `hangingUp` closes it at once (an instance going down, or a
/// balancer with no backend).
final class SilentListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let hangingUp: Bool
    private let lock = NSLock()
    private var held: [Int32] = []
    private var count = 0
    private var closed = false

    /// Connections accepted so far.
    var accepted: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    init(hangingUp: Bool = false) throws {
        self.hangingUp = hangingUp
        (fd, port) = try LoopbackSocket.bind()
        Thread { [self] in acceptForever() }.start()
    }

    private func acceptForever() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return }
            lock.lock()
            count += 1
            if closed || hangingUp { Glibc.close(client) } else { held.append(client) }
            lock.unlock()
        }
    }

    func close() {
        lock.lock()
        closed = true
        for c in held { Glibc.close(c) }
        lock.unlock()
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}
