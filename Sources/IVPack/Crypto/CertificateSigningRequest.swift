internal import CLibCrypto

/// A PKCS#10 certificate signing request (`ivpack keys csr`): what a vendor's real CA needs to
/// issue a certificate ivpack accepts for a role. The requested extensions (key usage, extended
/// key usage, the role's certificate policy, subject alternative names) travel in the request's
/// `extensionRequest` attribute; a CA copies them (`openssl x509 -req -copy_extensions copy`,
/// or its own profile). Signed with the subject's key over SHA-256.
public enum CertificateSigningRequest {
    /// The request for `key`'s public half, PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
    public static func make(
        subject: [(String, String)], key: PrivateKey, keyUsage: [String], extendedKeyUsage: [String],
        extendedKeyUsageIsCritical: Bool = false, certificatePolicies: [String], subjectAltNames: [String] = []
    ) throws -> String {
        guard !subject.isEmpty else { throw CertificateIssueError.emptySubject }
        for oid in certificatePolicies + extendedKeyUsage where !isDottedOID(oid) {
            throw CertificateIssueError.invalidObjectIdentifier(field: "certificate policy or EKU", value: oid)
        }
        for usage in keyUsage where !CertificateAuthority.keyUsageNames.contains(usage) {
            throw CertificateIssueError.invalidExtensionValue(
                field: "keyUsage", value: usage, reason: "not a key usage name")
        }
        ERR_clear_error()
        guard let request = X509_REQ_new() else { throw OpenSSLError.drain("allocate a certificate request") }
        defer { X509_REQ_free(request) }
        guard X509_REQ_set_version(request, 0) == 1 else { throw OpenSSLError.drain("set the request version") }
        guard let name = X509_NAME_new() else { throw OpenSSLError.drain("allocate a name") }
        defer { X509_NAME_free(name) }
        for (field, value) in subject {
            let bytes = Array(value.utf8)
            guard X509_NAME_add_entry_by_txt(name, field, ivpack_mbstring_utf8, bytes, Int32(bytes.count), -1, 0) == 1
            else {
                let reason = OpenSSLError.drain("add \(field)").reasons.joined(separator: "; ")
                throw CertificateIssueError.invalidSubjectAttribute(name: field, value: value, reason: reason)
            }
        }
        guard X509_REQ_set_subject_name(request, name) == 1, X509_REQ_set_pubkey(request, key.pkey) == 1 else {
            throw OpenSSLError.drain("set the request's subject and key")
        }

        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, nil, nil, request, nil, 0)
        // certificatePolicies insists on a configuration database (see CertificateAuthority.issue).
        guard let conf = NCONF_new(nil) else { throw OpenSSLError.drain("allocate an extension configuration") }
        defer { NCONF_free(conf) }
        X509V3_set_nconf(&ctx, conf)
        var extensions: OpaquePointer? = nil
        defer { if let extensions { ivpack_sk_X509_EXTENSION_pop_free(extensions) } }
        func add(_ nid: Int32, _ value: String, field: String) throws {
            guard let ext = X509V3_EXT_nconf_nid(conf, &ctx, nid, value) else {
                let reason = OpenSSLError.drain("encode \(field)").reasons.joined(separator: "; ")
                throw CertificateIssueError.invalidExtensionValue(field: field, value: value, reason: reason)
            }
            defer { X509_EXTENSION_free(ext) }
            // X509v3_add_ext copies the extension into the stack (made on the first call).
            guard X509v3_add_ext(&extensions, ext, -1) != nil else {
                throw OpenSSLError.drain("add the \(field) extension")
            }
        }
        try add(NID_basic_constraints, "critical,CA:FALSE", field: "basicConstraints")
        if !keyUsage.isEmpty {
            try add(NID_key_usage, "critical," + keyUsage.joined(separator: ","), field: "keyUsage")
        }
        if !extendedKeyUsage.isEmpty {
            try add(
                NID_ext_key_usage,
                (extendedKeyUsageIsCritical ? "critical," : "") + extendedKeyUsage.joined(separator: ","),
                field: "extendedKeyUsage")
        }
        if !certificatePolicies.isEmpty {
            try add(NID_certificate_policies, certificatePolicies.joined(separator: ","), field: "certificatePolicies")
        }
        if !subjectAltNames.isEmpty {
            try add(NID_subject_alt_name, subjectAltNames.joined(separator: ","), field: "subjectAltName")
        }
        guard let extensions, X509_REQ_add_extensions(request, extensions) == 1 else {
            throw OpenSSLError.drain("add the requested extensions")
        }
        guard X509_REQ_sign(request, key.pkey, EVP_sha256()) > 0 else { throw OpenSSLError.drain("sign the request") }
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509_REQ(bio, request) == 1 else { throw OpenSSLError.drain("write the request") }
        return String(decoding: bioBytes(bio), as: UTF8.self)
    }

    static func isDottedOID(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 2
            && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }
}
