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

            Example:
              ivpack keys init-dev Keys/dev
            """,
        subcommands: [InitDev.self]
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
                quality roles, an installer client and a licence server TLS identity, a licence-signing \
                and a time-stamping identity, CRLs, trust-policy.yaml trusting the root (marked \
                development: true) and README.txt saying what each file is. Keys are P-256, PKCS#8 PEM, \
                unencrypted, mode 0600. Every subject says DEVELOPMENT; never ship these keys.

                Example:
                  ivpack keys init-dev Keys/dev --validity-days 90
                """
        )

        @Argument(help: "The folder to create (must not exist or be empty).")
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
