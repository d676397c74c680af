import ArgumentParser
import Foundation
import IVPack

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create and manage signing keys and certificates.",
        discussion: """
            Production keys and roots come from the vendor's own PKI (or an HSM) and never from ivpack. \
            `init-dev` makes a development PKI for tests and demonstrations.

            Examples:
              ivpack keys init-dev Keys/dev
              ivpack keys csr --role release-manager \\
                --subject "O=Example Medical AI Co.,OU=Release Management,CN=Jane Doe" \\
                --key-out jane.key --out jane.csr
            """,
        subcommands: [InitDev.self, CSR.self]
    )
}

extension KeysCommand {
    struct InitDev: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init-dev",
            abstract:
                "Write a development PKI (DEVELOPMENT ONLY): CAs, signers, TLS identities, CRLs and a trust policy.",
            discussion: """
                Writes into DIR, which must not exist or be empty (an existing PKI is never overwritten): \
                a root and an intermediate CA, code-signing certificates for the release-manager and \
                quality roles, an installer client, a licence operator client (the licence server's admin \
                API) and a licence server TLS identity, a licence-signing \
                and a time-stamping identity, CRLs, trust-policy.yaml trusting the root (marked \
                development: true) and README.txt saying what each file is. Keys are P-256, PKCS#8 PEM, \
                unencrypted, mode 0600. Every subject says DEVELOPMENT; never ship these keys.

                Example:
                  ivpack keys init-dev Keys/dev --validity-days 90
                """
        )

        @Argument(help: "The folder to create (must not exist or be empty).", completion: .directory)
        var directory: String

        @Option(name: .long, help: "Days every certificate and CRL stays valid, from now.")
        var validityDays: Int = DevelopmentPKI.defaultValidityDays

        @OptionGroup var outputOptions: JSONOutputOptions

        func validate() throws {
            guard DevelopmentPKI.validityDaysRange.contains(validityDays) else {
                throw ValidationError(
                    "--validity-days must be between \(DevelopmentPKI.validityDaysRange.lowerBound) and \(DevelopmentPKI.validityDaysRange.upperBound)"
                )
            }
        }

        mutating func run() throws {
            try reportingErrors {
                let now = Int64(Date().timeIntervalSince1970)
                let layout = try DevelopmentPKI.create(in: directory, now: now, validityDays: validityDays)
                let files = DevelopmentPKILayout.files
                if outputOptions.json {
                    printJSON(
                        .object([
                            ("directory", .string(layout.directory)), ("development", .bool(true)),
                            ("validityDays", .integer(Int64(validityDays))),
                            ("trustPolicy", .string(layout.trustPolicy)),
                            (
                                "files",
                                .array(
                                    files.map { f in
                                        .object([
                                            ("path", .string(layout.path(of: f))),
                                            ("privateKey", .bool(f.isPrivateKey)), ("summary", .string(f.summary)),
                                        ])
                                    })
                            ),
                        ]))
                } else {
                    print(
                        "Wrote a DEVELOPMENT PKI to \(layout.directory) (\(files.count) files, valid \(validityDays) days):"
                    )
                    let width = files.map(\.path.count).max() ?? 0
                    for f in files {
                        print(
                            "  \(f.path)\(String(repeating: " ", count: width - f.path.count))  \(f.isPrivateKey ? "[private key, 0600] " : "")\(f.summary)"
                        )
                    }
                    print("Trust policy: \(layout.trustPolicy) (development: true)")
                }
                printError(
                    """
                    WARNING: DEVELOPMENT PKI. These keys are unencrypted and for tests and demonstrations only.
                    WARNING: never ship them, never sign a release for a site with them, never trust root-ca.pem in production.
                    """)
            }
        }
    }
}

extension KeysCommand {
    struct CSR: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "csr",
            abstract: "Make a key and a certificate request for an ivpack role, for the vendor's real CA.",
            discussion: """
                Generates a P-256 key (a NEW file, mode 0600, encrypted when --passphrase-file is given) \
                and a PKCS#10 request (PEM) signed with it, asking for what ivpack requires of the role: \
                its certificate policy OID (how a trust policy's roles prove it), key usage and \
                extended key usage (docs/trust-model.md, Production PKI). The CA issues the certificate \
                with these extensions (e.g. `openssl x509 -req -copy_extensions copy`, or its own \
                profile with the same values). Roles: \(RoleProfile.all.map(\.role).joined(separator: ", ")).

                Example:
                  ivpack keys csr --role release-manager \\
                    --subject "O=Example Medical AI Co.,OU=Release Management,CN=Jane Doe" \\
                    --key-out jane.key --out jane.csr
                """)

        @Option(
            name: .long,
            help:
                "The role: release-manager, quality, installer, license-operator, hospital-reviewer, vendor-issuer, license-server, license-signing, license-escrow."
        )
        var role: String

        @Option(
            name: .long, help: "The subject, most general first: \"O=Vendor,OU=Unit,CN=Name\" (C, ST, L, O, OU, CN).")
        var subject: String

        @Option(name: .long, help: "Where to write the new private key (must not exist).", completion: .file())
        var keyOut: String

        @Option(name: .long, help: "Where to write the request (PEM; must not exist).", completion: .file())
        var out: String

        @Option(name: .long, help: "A DNS name for the certificate (repeatable; license-server).")
        var dns: [String] = []

        @Option(name: .long, help: "An IP address for the certificate (repeatable; license-server).")
        var ip: [String] = []

        @Option(
            name: .long, help: "Encrypt the key with the passphrase on this file's first line.", completion: .file())
        var passphraseFile: String?

        func validate() throws {
            guard let profile = RoleProfile.named(role) else {
                throw ValidationError(
                    "--role \(role): not an ivpack role; use one of \(RoleProfile.all.map(\.role).joined(separator: ", "))"
                )
            }
            if profile.needsSubjectAltNames && dns.isEmpty && ip.isEmpty {
                throw ValidationError("--role \(role) is a TLS server certificate: give its names with --dns or --ip")
            }
            if keyOut == out { throw ValidationError("--key-out and --out must be different files") }
        }

        /// `O=A,OU=B,CN=C` as attribute pairs; a backslash escapes a comma.
        static func parseSubject(_ text: String) throws -> [(String, String)] {
            var parts: [String] = []
            var current = ""
            var escaped = false
            for c in text {
                if escaped {
                    current.append(c)
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "," {
                    parts.append(current)
                    current = ""
                } else {
                    current.append(c)
                }
            }
            parts.append(current)
            return try parts.map { part in
                guard let equals = part.firstIndex(of: "=") else {
                    throw ValidationError("--subject: \"\(part)\" is not NAME=VALUE (e.g. CN=Jane Doe)")
                }
                let name = part[..<equals].trimmingCharacters(in: .whitespaces)
                let value = part[part.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty, !value.isEmpty else {
                    throw ValidationError("--subject: \"\(part)\" has an empty name or value")
                }
                return (name, value)
            }
        }

        mutating func run() throws {
            let options = self
            try reportingErrors {
                let profile = RoleProfile.named(options.role)!
                let subject = try Self.parseSubject(options.subject)
                for path in [options.keyOut, options.out] where FileManager.default.fileExists(atPath: path) {
                    printError("error: \(path) exists; keys csr never overwrites a file")
                    throw ExitCode(ExitStatus.badInput.rawValue)
                }
                let key = try PrivateKey.generateP256()
                let request = try CertificateSigningRequest.make(
                    subject: subject, key: key, keyUsage: profile.keyUsage,
                    extendedKeyUsage: profile.extendedKeyUsage,
                    extendedKeyUsageIsCritical: profile.extendedKeyUsageIsCritical,
                    certificatePolicies: profile.policyOID.map { [$0] } ?? [],
                    subjectAltNames: options.dns.map { "DNS:" + $0 } + options.ip.map { "IP:" + $0 })
                let pem = try key.pkcs8PEM(passphrase: try readPassphrase(file: options.passphraseFile))
                try Array(pem.utf8).withUnsafeBytes {
                    try writeNewFile(options.keyOut, mode: 0o600, what: "the private key file", $0)
                }
                do {
                    try Array(request.utf8).withUnsafeBytes {
                        try writeNewFile(options.out, mode: 0o644, what: "the certificate request", $0)
                    }
                } catch {
                    unlink(options.keyOut)
                    throw error
                }
                print(
                    "Key:     \(options.keyOut) (P-256, mode 0600\(options.passphraseFile == nil ? "" : ", encrypted"))"
                )
                print("Request: \(options.out) for role \(profile.role): \(profile.purpose)")
                if let oid = profile.policyOID { print("  certificate policy \(oid)") }
                print(
                    "  key usage \(profile.keyUsage.joined(separator: ", ")); extended key usage \(profile.extendedKeyUsage.isEmpty ? "none" : profile.extendedKeyUsage.joined(separator: ", "))"
                )
                print("Send the request to the vendor's CA; keep the key where it is (or import it into an HSM).")
            }
        }
    }
}
