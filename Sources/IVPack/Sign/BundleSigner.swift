#if canImport(Glibc)
import Glibc
#endif

/// Names of signature entries: `ivpack/signatures/NNN-ROLE.p7s`, numbered from 001 in the order added.
public enum SignatureEntryName {
    public static let prefix = "ivpack/signatures/"
    /// Most signatures one bundle may carry.
    public static let maxCount = 999

    /// The entry name of the `index`-th signature (1-based) for `role`.
    public static func make(index: Int, role: String) -> String {
        let number = String(index)
        return prefix + String(repeating: "0", count: max(0, 3 - number.count)) + number + "-" + role + ".p7s"
    }

    /// Index and role of a signature entry name; nil for anything else.
    public static func parse(_ path: String) -> (index: Int, role: String)? {
        guard path.hasPrefix(prefix), path.hasSuffix(".p7s") else { return nil }
        let body = path.dropFirst(prefix.count).dropLast(4)
        guard body.count > 4, let dash = body.firstIndex(of: "-") else { return nil }
        let digits = body[..<dash]
        let role = String(body[body.index(after: dash)...])
        guard digits.count == 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let index = Int(digits), index >= 1,
              isValidRole(role) else { return nil }
        return (index, role)
    }

    /// Role names: 1 to 32 lower-case letters, digits and '-', starting with a letter.
    public static func isValidRole(_ role: String) -> Bool {
        guard let first = role.utf8.first, role.utf8.count <= 32, first >= 0x61 && first <= 0x7A else { return false }
        return role.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }
}

/// A bundle that cannot be signed as it is (not a bundle, damaged, already signed by this certificate).
public struct SignError: IVPackError, Equatable {
    public var bundle: String
    public var problem: String
    public var hint: String
    public var status: ExitStatus
    public var exitStatus: ExitStatus { status }
    public var description: String { "\(bundle): \(problem)\(hint.isEmpty ? "" : ". \(hint)")" }
}

/// What `sign` added.
public struct SignResult: Sendable {
    /// The new entry's name.
    public var entry: String
    public var role: String
    public var signer: String
    public var manifestDigest: SHA256Digest
    /// Signatures in the bundle now, including the new one.
    public var signatureCount: Int
}

/// The layout facts of a bundle that signing needs, read from its headers only: cost grows with
/// the number of entries, never with their size.
struct BundleLayout {
    var manifestBytes: [UInt8]
    var manifest: Manifest
    /// Existing signature entries with their bytes.
    var signatures: [(path: String, der: [UInt8])]
    /// Offset of the end-of-archive marker.
    var endOfArchive: Int64

    static func read(path: String) throws -> BundleLayout {
        // Small reads: headers are 512 bytes and data is skipped by seeking.
        let file = try InputFile(path: path)
        let reader = try TarReader(file: file, blockSize: 16 << 10)
        guard let first = try reader.next(), first.path == Manifest.entryPath, first.kind == .regular else {
            throw BundleFormatError(path: path, problem: "the first entry is not \(Manifest.entryPath); this is not an ivpack bundle")
        }
        let manifestBytes = try reader.readAll(limit: Manifest.maxBytes)
        let manifest = try Manifest.decode(manifestBytes, source: path)
        var signatures: [(String, [UInt8])] = []
        // Every file the manifest lists must be there with its size: a bundle cut short at an entry
        // boundary reads as a complete (shorter) tar, and must not be signed.
        var missing: [String: Int64] = [:]
        for f in manifest.allFiles { missing[f.path] = f.size }
        while let entry = try reader.next() {
            let name = entry.path ?? ""
            if let size = missing[name], entry.kind == .regular, entry.size == size {
                missing[name] = nil
            }
            if name.hasPrefix(SignatureEntryName.prefix) {
                guard entry.kind == .regular, SignatureEntryName.parse(name) != nil else {
                    throw BundleFormatError(path: path, problem: "signature entry \"\(name)\" is not a regular file named NNN-ROLE.p7s")
                }
                signatures.append((name, try reader.readAll(limit: SignedData.maxBytes)))
            } else if !signatures.isEmpty {
                throw BundleFormatError(path: path, problem: "entry \"\(name)\" follows the signatures; the bundle was altered after signing")
            }
        }
        guard let end = reader.endOfArchiveOffset else {
            throw BundleFormatError(path: path, problem: "the archive has no end-of-archive marker")
        }
        if !missing.isEmpty {
            let first = missing.keys.sorted()[0]
            throw BundleFormatError(path: path, problem: "\(missing.count) file\(missing.count == 1 ? "" : "s") of the manifest \(missing.count == 1 ? "is" : "are") missing or of the wrong size (first: \(Display.name(first))); the bundle is incomplete, cut short or damaged")
        }
        // The marker's first zero block must be there (after an interrupted sign the second may
        // hold that sign's leftovers, but the file still reaches past it).
        guard reader.endMarkerIsPresent(), file.size >= end + 1024 else {
            throw BundleFormatError(path: path, problem: "the archive ends at byte \(end) without an end-of-archive marker; the bundle is cut short")
        }
        return BundleLayout(manifestBytes: manifestBytes, manifest: manifest, signatures: signatures, endOfArchive: end)
    }
}

/// Appends CMS signatures to a bundle without rewriting its payload.
///
/// Crash safety: the new entry's data and a fresh end-of-archive marker are written and flushed
/// after the old marker's first block, and only then is the entry header written over that block
/// and flushed. Until that single 512-byte write the bundle still ends where it ended (tar readers
/// stop at the zero block), so a kill at any moment leaves the payload and earlier signatures
/// intact; the next `sign` overwrites whatever was left after the marker.
public enum BundleSigner {
    /// Signs the manifest of the bundle at `bundlePath` as `role`.
    public static func sign(bundlePath: String, certificate: Certificate, key: PrivateKey, chain: [Certificate],
                            role: String, now: Int64, timestampAuthority: String? = nil,
                            timestampTimeout: Int = RFC3161.defaultTimeoutSeconds) throws -> SignResult {
        guard SignatureEntryName.isValidRole(role) else {
            throw SignError(bundle: bundlePath, problem: "\"\(role)\" is not a role name", hint: "Use lower-case letters, digits and '-', e.g. release-manager", status: .badInput)
        }
        guard key.matches(certificate) else {
            throw CryptoInputError(file: key.source, problem: "the private key does not belong to the certificate \"\(certificate.subject)\"",
                                   hint: "Give the key that was certified, or the certificate issued for this key")
        }
        // What can be told without a trust policy: an end entity, strong enough (verify would refuse it).
        try SigningIdentityCheck.require(certificate, chain: chain)
        if now < certificate.notBefore {
            throw CryptoInputError(file: "certificate \"\(certificate.subject)\"", problem: "is not valid yet (valid from \(Timestamp.iso8601(certificate.notBefore)))",
                                   hint: "Check the system clock, or use a certificate that is already valid")
        }
        if now > certificate.notAfter {
            throw CryptoInputError(file: "certificate \"\(certificate.subject)\"", problem: "expired on \(Timestamp.iso8601(certificate.notAfter))",
                                   hint: "Renew the signing certificate")
        }
        let file = try UpdatableFile(path: bundlePath)
        let layout = try BundleLayout.read(path: bundlePath)
        guard layout.signatures.count < SignatureEntryName.maxCount else {
            throw SignError(bundle: bundlePath, problem: "already holds \(layout.signatures.count) signatures", hint: "", status: .badInput)
        }
        for existing in layout.signatures {
            guard let signed = try? SignedData.parse(der: existing.der, source: existing.path), let signer = signed.signerCertificate else { continue }
            if signer.sameCertificate(as: certificate) {
                throw SignError(bundle: bundlePath, problem: "is already signed by this certificate (\(existing.path), \"\(certificate.subject)\")",
                                hint: "Each certificate signs a bundle once; a second approver signs with their own certificate", status: .checkFailed)
            }
        }
        var signature = try SignedData.sign(content: layout.manifestBytes, certificate: certificate, key: key, chain: chain)
        if let url = timestampAuthority { signature = try RFC3161.timestamp(signature, authority: url, timeout: timestampTimeout) }
        let entry = SignatureEntryName.make(index: layout.signatures.count + 1, role: role)
        let bytes = try TarWriter.entryWithEndMarker(path: entry, data: signature.der, permissions: 0o644, modificationTime: now)
        let end = layout.endOfArchive

        // 1. Everything but the header block, after the old marker's first block; flushed.
        try file.write(bytes[512...], at: end + 512)
        try file.truncate(to: end + Int64(bytes.count))
        try file.sync()
        Failpoint.reach("sign-before-commit")
        // 2. The header block over the old marker: the single write that makes the signature visible.
        try file.write(bytes[0..<512], at: end)
        try file.sync()
        return SignResult(entry: entry, role: role, signer: certificate.subject,
                          manifestDigest: SHA256Digest.of(layout.manifestBytes), signatureCount: layout.signatures.count + 1)
    }
}

/// Time formatting for messages and reports.
public enum Timestamp {
    /// `2026-11-23T18:07:12Z`.
    public static func iso8601(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The current time, seconds since 1970.
    public static func now() -> Int64 { Int64(time(nil)) }
}
