/// Where `install` gets the content key of an encrypted bundle (docs/encryption.md). Tried in
/// the order given; the first key found is checked against the manifest's signed `keyCheck`
/// before anything is written.
public enum ContentKeySource: Sendable {
    /// A recipient's private key (a file or a key in an HSM) and its certificate: the recipient
    /// entry wrapped for that certificate is unwrapped.
    case recipient(key: PrivateKey, certificate: Certificate)
    /// A key file: 32 raw bytes, mode 0600 (`build --export-content-key`, `openssl cms -decrypt`).
    case keyFile(String)
    /// A key already in hand (released by the licence server in its grant).
    case key(ContentKey, from: String)
}

/// Finds the content key of a verified encrypted bundle, or says why there is none. Never
/// prints or returns key material in an error.
public enum ContentKeyResolver {
    /// The key for `bundle`, nil for a bundle in the clear. Throws `ContentKeyUnavailable`
    /// naming the reason: no source given, this key is not a recipient, the key does not match
    /// the manifest's check value.
    public static func resolve(_ bundle: VerifiedBundle, sources: [ContentKeySource]) throws(ContentKeyUnavailable)
        -> ContentKey?
    {
        try resolveWithOrigin(bundle, sources: sources)?.key
    }

    /// As `resolve`, with where the key came from, in words for the IQ report ("recipient entry
    /// ivpack/recipients/001-site-7.p7m", "the licence grant", "key file PATH"): never the key.
    public static func resolveWithOrigin(_ bundle: VerifiedBundle, sources: [ContentKeySource])
        throws(ContentKeyUnavailable) -> (key: ContentKey, origin: String)?
    {
        guard let encryption = bundle.manifest.encryption else { return nil }
        let what = "components \(encryption.components.joined(separator: ", ")) are encrypted"
        var recipients: [(path: String, wrapped: EnvelopedKey)] = []
        for entry in bundle.recipients {
            if let wrapped = try? EnvelopedKey.parse(der: entry.der, source: entry.path) {
                recipients.append((entry.path, wrapped))
            }
        }
        let listed =
            recipients.isEmpty
            ? "the bundle has no recipient entry"
            : "the bundle's recipient entries are for: "
                + recipients.map { "\($0.path): \($0.wrapped.recipients.map(\.description).joined(separator: "; "))" }
                .joined(separator: " | ")
        guard !sources.isEmpty else {
            throw ContentKeyUnavailable(
                bundle: bundle.path,
                problem: "\(what) and no key was given, so nothing can be installed (\(listed))",
                hint:
                    "Install with the licence check (--license-server: the server releases the key to a licensed installer), or give a recipient's key with --recipient-key KEY --recipient-cert CERT, or a key file with --content-key FILE"
            )
        }
        var problems: [String] = []
        for source in sources {
            let key: ContentKey
            let origin: String
            switch source {
            case .recipient(let privateKey, let certificate):
                guard let match = recipients.first(where: { $0.wrapped.isRecipient(certificate) }) else {
                    problems.append(
                        "certificate \"\(certificate.subject)\" (serial \(certificate.serialHex)) is not one of the recipients; \(listed)"
                    )
                    continue
                }
                do {
                    key = try match.wrapped.unwrap(with: privateKey, certificate: certificate)
                } catch {
                    problems.append("\(match.path): \(error)")
                    continue
                }
                origin = "recipient entry \(match.path)"
            case .keyFile(let path):
                do {
                    key = try ContentKey.load(file: path)
                } catch {
                    problems.append("\(error)")
                    continue
                }
                origin = "key file \(path)"
            case .key(let given, let from):
                key = given
                origin = from
            }
            let check: String
            do {
                check = try key.checkValue()
            } catch {
                problems.append("\(origin): \(error)")
                continue
            }
            guard check == encryption.keyCheck else {
                problems.append(
                    "the key from \(origin) is not this bundle's content key (its check value differs from the manifest's signed keyCheck)"
                )
                continue
            }
            return (key, origin)
        }
        throw ContentKeyUnavailable(
            bundle: bundle.path, problem: "\(what) and no key given opens them: " + problems.joined(separator: "; "),
            hint: "Give the key of a listed recipient, or install with the licence check")
    }
}

/// No content key given opens an encrypted bundle: why, and what to do. Carries no key material.
public struct ContentKeyUnavailable: IVPackError, Equatable {
    public var bundle: String
    public var problem: String
    public var hint: String
    public var exitStatus: ExitStatus { .checkFailed }
    public var description: String { "\(bundle): cannot decrypt: \(problem). \(hint)" }
}
