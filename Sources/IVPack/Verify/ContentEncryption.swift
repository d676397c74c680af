/// For an encrypted bundle (`encryption`): which components are encrypted, and for whom the
/// content key is wrapped. Each recipient entry must be a readable CMS AuthEnvelopedData (an
/// entry that is not fails the check: the bundle was damaged or added to by someone else); its
/// recipients are listed by issuer and serial. Verify never holds the key: the encrypted files
/// were checked as stored (their ciphertext chunk digests) in the streaming pass. Nothing for a
/// bundle in the clear.
public struct ContentEncryption: VerifyCheck {
    public init() {}
    public var ids: [CheckID] { [.encryption] }

    public func evaluate(_ bundle: VerifiedBundle, now: Int64) -> [Check] {
        guard let encryption = bundle.manifest.encryption else { return [] }
        let files = bundle.manifest.allFiles.filter { $0.encryption != nil }
        var evidence: [(key: String, value: String)] = [
            ("algorithm", encryption.algorithm),
            ("components", encryption.components.joined(separator: ", ")),
            ("files", String(files.count)),
            ("key", encryption.keyOrigin == "generated" ? "generated for this build" : "from a key file (test build)"),
        ]
        var details: [String] = []
        var problems: [String] = []
        for entry in bundle.recipients {
            do {
                let wrapped = try EnvelopedKey.parse(der: entry.der, source: entry.path)
                let who = wrapped.recipients.map(\.description).joined(separator: "; ")
                details.append("\(entry.path): \(who)")
            } catch {
                problems.append("\(entry.path): \(error)")
            }
        }
        evidence.append(("recipient entries", String(bundle.recipients.count)))
        if bundle.recipients.isEmpty {
            details.append(
                "no recipient entry: only a key from the licence server or a key file can decrypt this bundle")
        }
        if encryption.keyOrigin != "generated" {
            details.append(
                "the content key was given to build from a file (reproducible test builds), not generated for this bundle"
            )
        }
        if !problems.isEmpty {
            return [
                Check(
                    .encryption, status: .fail, details: BundleVerifier.capped(problems + details), evidence: evidence)
            ]
        }
        return [
            Check(
                .encryption, status: encryption.keyOrigin == "generated" ? .pass : .warn,
                details: BundleVerifier.capped(details), evidence: evidence)
        ]
    }
}
