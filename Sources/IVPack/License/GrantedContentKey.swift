/// Why the content key a licence grant carries could not be had. No case carries key material:
/// only the licence, certificates and OpenSSL's reasons. `code` is the machine-readable code the
/// `license` check reports.
public enum GrantKeyError: IVPackError, Equatable {
    /// The grant carries no content key, though the bundle is encrypted.
    case notReleased(licenseID: String)
    /// The grant's `contentKey` is not an EnvelopedData ivpack accepts.
    case malformed(problem: String)
    /// The key is wrapped for other certificates than the one given.
    case notForThisRecipient(certificate: String, problem: String)
    /// The private key is not the certificate's, or the wrapped key does not decrypt.
    case unwrapFailed(problem: String)
    /// The key unwrapped, but it is not the bundle's: its check value differs from the manifest's.
    case wrongKey(expectedCheckValue: String)
    /// The certificate or private key to unwrap with cannot be loaded.
    case credential(problem: String)

    /// The machine-readable code.
    public var code: String {
        switch self {
        case .notReleased: return "content-key-not-released"
        case .malformed: return "content-key-malformed"
        case .notForThisRecipient: return "content-key-not-for-this-installer"
        case .unwrapFailed: return "content-key-unwrap-failed"
        case .wrongKey: return "content-key-wrong"
        case .credential: return "client-credential"
        }
    }

    /// What is wrong and what to do.
    public var message: String {
        switch self {
        case .notReleased(let licenseID):
            return
                "the bundle is encrypted and the grant for licence \(licenseID) carries no content key: "
                + "the vendor registers the bundle with its escrowed key (`ivpack license register`); report to the vendor"
        case .malformed(let problem): return "the grant's content key is not a wrapped key ivpack reads: \(problem)"
        case .notForThisRecipient(let certificate, let problem):
            return
                "the grant's content key is not wrapped for \"\(certificate)\" (\(problem)): "
                + "give the certificate and key the licence was asked with"
        case .unwrapFailed(let problem): return "the grant's content key could not be unwrapped: \(problem)"
        case .wrongKey(let expected):
            return
                "the grant's content key is not this bundle's (its check value is not the manifest's \(expected)): "
                + "do not proceed; report to the vendor"
        case .credential(let problem): return "cannot load the certificate or key to unwrap the content key: \(problem)"
        }
    }

    public var exitStatus: ExitStatus {
        switch self {
        case .credential: return .badInput
        default: return .checkFailed
        }
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}

extension LicenseGrant {
    /// The bundle's content key the grant releases, unwrapped with the recipient's private key
    /// and certificate (online: the installer's client certificate and key the licence was asked
    /// with; offline: the site's), and checked against `expectedCheckValue`, the manifest's signed
    /// check value of the key (`ContentKey.checkValue()`), when given. The key lives only in the
    /// returned `ContentKey`, which zeroes it when released: hold it no longer than the install.
    public func unwrapContentKey(
        with key: PrivateKey, certificate: Certificate, expectedCheckValue: String?
    ) throws(GrantKeyError) -> ContentKey {
        guard let der = contentKey else { throw .notReleased(licenseID: licenseID) }
        let enveloped: EnvelopedKey
        do {
            enveloped = try EnvelopedKey.parse(der: der, source: "the grant's contentKey")
        } catch {
            throw .malformed(problem: "\(error)")
        }
        let unwrapped: ContentKey
        do {
            unwrapped = try enveloped.unwrap(with: key, certificate: certificate)
        } catch let error as EnvelopedKeyError {
            switch error {
            case .notARecipient:
                throw .notForThisRecipient(certificate: certificate.subject, problem: "\(error)")
            default:
                throw .unwrapFailed(problem: "\(error)")
            }
        } catch {
            throw .unwrapFailed(problem: "\(error)")
        }
        if let expectedCheckValue {
            guard let actual = try? unwrapped.checkValue(), actual == expectedCheckValue else {
                throw .wrongKey(expectedCheckValue: expectedCheckValue)
            }
        }
        return unwrapped
    }

    /// As `unwrapContentKey(with:certificate:expectedCheckValue:)`, with the certificate (the first
    /// of the PEM file) and private key loaded from files; `passphrase` decrypts an encrypted key.
    public func unwrapContentKey(
        certificateFile: String, keyFile: String, passphrase: [UInt8]?, expectedCheckValue: String?
    ) throws(GrantKeyError) -> ContentKey {
        let certificate: Certificate
        let key: PrivateKey
        do {
            certificate = try Certificate.load(file: certificateFile)[0]
            key = try PrivateKey.load(file: keyFile, passphrase: passphrase)
        } catch {
            throw .credential(problem: "\(error)")
        }
        return try unwrapContentKey(with: key, certificate: certificate, expectedCheckValue: expectedCheckValue)
    }
}
