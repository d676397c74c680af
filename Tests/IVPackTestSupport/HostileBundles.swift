import Foundation
import IVPack

/// Builds hostile bundles from a real, validly signed one: the manifest and signatures are the
/// real ones (or a hostile manifest signed with the development keys), so that a valid signature
/// alone saves nothing. Every byte is written by `RawTar`, so headers can lie.
public struct HostileBundles: Sendable {
    public let signed: SignedRelease
    /// The real entries: manifest, payload files, signatures.
    public let entries: [BundleSurgery.Entry]

    public init(_ signed: SignedRelease) throws {
        self.signed = signed
        entries = try BundleSurgery.entries(of: signed.bundle)
    }

    public var manifestEntry: BundleSurgery.Entry { entries[0] }
    public var payloadEntries: [BundleSurgery.Entry] { entries.dropFirst().filter { !$0.path.hasPrefix("ivpack/") } }
    public var signatureEntries: [BundleSurgery.Entry] { entries.filter { $0.path.hasPrefix("ivpack/signatures/") } }

    /// A real entry exactly as ivpack wrote it, so that only the hostile part differs.
    static func raw(_ e: BundleSurgery.Entry) -> [UInt8] { e.ivpackBytes }

    /// The real bundle with `hostile` bytes (whole tar entries) inserted right after the manifest.
    public func inserting(_ hostile: [UInt8]) -> [UInt8] {
        var out = Self.raw(manifestEntry) + hostile
        for e in entries.dropFirst() { out += Self.raw(e) }
        return out + RawTar.end
    }

    /// The real bundle with the entry named `path` written as `replacement` instead.
    public func replacing(_ path: String, with replacement: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for e in entries { out += e.path == path ? replacement : Self.raw(e) }
        return out + RawTar.end
    }

    /// A bundle whose manifest is `manifest` (any bytes), signed by both development roles, with
    /// the real payload entries.
    public func withManifest(_ manifest: [UInt8]) throws -> [UInt8] {
        var out = BundleSurgery.Entry(
            path: Manifest.entryPath, data: manifest, modificationTime: manifestEntry.modificationTime
        ).ivpackBytes
        for e in payloadEntries { out += Self.raw(e) }
        for (i, role) in ["release-manager", "quality"].enumerated() {
            let id = signed.signer(role)
            let cms = try SignedData.sign(
                content: manifest, certificate: try Certificate.load(file: id.certificate)[0],
                key: try PrivateKey.load(file: id.key, passphrase: nil),
                chain: try Certificate.load(file: id.chain))
            out +=
                BundleSurgery.Entry(
                    path: SignatureEntryName.make(index: i + 1, role: role), data: cms.der,
                    modificationTime: manifestEntry.modificationTime
                ).ivpackBytes
        }
        return out + RawTar.end
    }

    /// The real manifest's text with `old` replaced by `new` (once; the test asserts it was there).
    public func manifestText(replacing old: String, with new: String) -> [UInt8]? {
        let text = String(decoding: manifestEntry.data, as: UTF8.self)
        guard let range = text.range(of: old) else { return nil }
        return Array(text.replacingCharacters(in: range, with: new).utf8)
    }
}

/// A child process's outcome with its own peak memory, as GNU time measured it.
public struct MeasuredRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Peak resident set size in KiB.
    public var maxRSSKiB: Int
    public var seconds: Double
}

/// Runs `executable` through /bin/sh (so that the shell can set limits first with `prefix`, e.g.
/// `ulimit -f 64;`) in `directory`, under GNU time for its peak memory. (A spawned child's own
/// `ru_maxrss` would include the test process's memory: Linux carries the peak across `exec` of a
/// child that shared its parent's address space.)
public func runMeasured(
    _ executable: String, _ arguments: [String], in directory: String, prefix: String = "",
    environment: [String: String] = [:]
) -> MeasuredRun {
    func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
    let logs = TemporaryFolder("ivpack-measured")
    let command =
        "\(prefix) cd \(quote(directory)) && exec /usr/bin/time -f '%M %e %x' -o \(quote(logs.url("time"))) \(quote(executable)) "
        + "\(arguments.map(quote).joined(separator: " ")) </dev/null >\(quote(logs.url("out"))) 2>\(quote(logs.url("err")))"
    let r = run("/bin/sh", ["-c", command], environment: environment)
    // The last line of GNU time's output: peak KiB, seconds, exit status (other lines say why it
    // ended, e.g. "Command terminated by signal 11").
    let lines = String(decoding: logs.read("time"), as: UTF8.self).split(separator: "\n")
    let fields = lines.last?.split(separator: " ") ?? []
    return MeasuredRun(
        status: r.status, stdout: String(decoding: logs.read("out"), as: UTF8.self),
        stderr: String(decoding: logs.read("err"), as: UTF8.self) + r.stderr,
        maxRSSKiB: fields.count > 0 ? Int(fields[0]) ?? -1 : -1,
        seconds: fields.count > 1 ? Double(fields[1]) ?? -1 : -1)
}
