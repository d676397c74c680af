/// What `recipients add` did.
public struct RecipientAddResult: Sendable {
    /// The new entry, `ivpack/recipients/NNN-NAME.p7m`.
    public var entry: String
    public var certificate: String
    /// Recipient entries in the bundle now.
    public var recipientCount: Int
}

/// Adds a recipient to a built (and possibly signed) encrypted bundle: the content key, obtained
/// from a key source that opens the bundle (an existing recipient's key, or the key file), is
/// wrapped for one more certificate and appended as entry `ivpack/recipients/NNN-NAME.p7m`, the
/// way `sign` appends a signature (one crash-safe append at the end-of-archive marker; nothing
/// before it changes, so signatures stay valid). The key is checked against the manifest's
/// signed `keyCheck` first: a wrong key can never be handed to a site.
public enum RecipientAdder {
    public static func add(
        bundlePath: String, name: String, certificate: Certificate, keySources: [ContentKeySource]
    ) throws -> RecipientAddResult {
        guard SignatureEntryName.isValidRole(name) else {
            throw RecipientAddError(
                bundle: bundlePath, problem: "\"\(name)\" is not a recipient name",
                hint: "Use 1 to 32 lower-case letters, digits and '-', starting with a letter, e.g. site-7")
        }
        try EnvelopedKey.checkRecipient(certificate)
        let file = try UpdatableFile(path: bundlePath)
        let layout = try BundleLayout.read(path: bundlePath)
        guard layout.manifest.isEncrypted else {
            throw RecipientAddError(
                bundle: bundlePath, problem: "the bundle encrypts nothing, so it has no content key to wrap",
                hint: "Recipients are for bundles built with encrypted components (--encrypt, encrypt: true)")
        }
        guard layout.recipients.count < RecipientEntryName.maxCount else {
            throw RecipientAddError(
                bundle: bundlePath, problem: "already holds \(layout.recipients.count) recipient entries", hint: "")
        }
        for existing in layout.recipients {
            if RecipientEntryName(existing.path)?.name == name {
                throw RecipientAddError(
                    bundle: bundlePath, problem: "already has a recipient entry named \"\(name)\" (\(existing.path))",
                    hint: "Give this recipient another name")
            }
            if let wrapped = try? EnvelopedKey.parse(der: existing.der, source: existing.path),
                wrapped.isRecipient(certificate)
            {
                throw RecipientAddError(
                    bundle: bundlePath,
                    problem: "certificate \"\(certificate.subject)\" is already a recipient (\(existing.path))",
                    hint: "Nothing to add")
            }
        }
        let bundle = VerifiedBundle(
            path: bundlePath, manifest: layout.manifest, manifestBytes: layout.manifestBytes,
            manifestDigest: SHA256Digest.of(layout.manifestBytes), signatures: [],
            recipients: layout.recipients.map { RecipientEntry(path: $0.path, der: $0.der) })
        guard let key = try ContentKeyResolver.resolve(bundle, sources: keySources) else {
            throw RecipientAddError(bundle: bundlePath, problem: "the bundle encrypts nothing", hint: "")
        }
        let wrapped = try EnvelopedKey.wrap(key, to: [certificate])
        let entry = RecipientEntryName.make(index: layout.recipients.count + 1, name: name)
        try layout.append(path: entry, data: wrapped.der, to: file, failpoint: "recipients-add-before-commit")
        return RecipientAddResult(
            entry: entry, certificate: certificate.subject, recipientCount: layout.recipients.count + 1)
    }
}

/// `recipients add` cannot add this recipient; the bundle is unchanged.
public struct RecipientAddError: IVPackError, Equatable {
    public var bundle: String
    public var problem: String
    public var hint: String
    public var exitStatus: ExitStatus { .badInput }
    public var description: String {
        "\(bundle): \(problem); the bundle is unchanged." + (hint.isEmpty ? "" : " \(hint)")
    }
}
