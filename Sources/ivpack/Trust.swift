import ArgumentParser
import Foundation
import IVPack
import IVPackLicense

struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Maintain a site's trust: fetch current CRLs, make and install signed trust updates.",
        discussion: """
            Examples:
              ivpack trust refresh --policy /etc/ivpack/trust-policy.yaml
              ivpack trust init --state /etc/ivpack/trust --update-key k1.pem \\
                --update-key k2.pem --update-key k3.pem --threshold 2
              ivpack trust update trust-update-7.json --state /etc/ivpack/trust
              ivpack verify bundle.ivp --trust /etc/ivpack/trust
            """,
        subcommands: [Refresh.self, BundleUpdate.self, Cosign.self, Init.self, Update.self, Status.self]
    )
}

extension TrustCommand {
    struct Refresh: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "refresh",
            abstract: "Fetch the policy's CRLs over HTTP, check their signatures and install them.",
            discussion: """
                Fetches a CRL from every http:// CRL distribution point of the policy's trusted roots \
                and intermediates and from the url of every crls entry that names one; checks it is \
                signed by its issuer in the policy, that thisUpdate is not in the future, that \
                nextUpdate is after now and that its CRL number is above the installed one; and \
                replaces the policy's CRL file for that issuer atomically. Prints one line per \
                distribution point: UPDATED, UNCHANGED, REFUSED (why) or UNREACHABLE.

                Exit codes: 0 every CRL current; 1 a CRL refused, or one still past its next update; \
                3 a distribution point unreachable or a CRL file not writable.

                Example:
                  ivpack trust refresh --policy /etc/ivpack/trust-policy.yaml --timeout 20
                """
        )

        @Option(
            name: .long, help: "The trust policy (YAML) whose CRLs are refreshed.",
            completion: .file(extensions: ["yaml", "yml"]))
        var policy: String

        @Option(name: .long, help: "Seconds to wait for each distribution point (1-300).")
        var timeout: Int = 30

        @OptionGroup var outputOptions: JSONOutputOptions

        func validate() throws {
            guard (1...300).contains(timeout) else { throw ValidationError("--timeout must be between 1 and 300") }
        }

        mutating func run() throws {
            var code: Int32 = 0
            try reportingErrors {
                let trust = try TrustPolicy.load(path: policy)
                let report = CRLRefresh.refresh(
                    policy: trust, prober: NIOHTTPProber(), timeoutMilliseconds: Int64(timeout) * 1000,
                    now: Int64(Date().timeIntervalSince1970))
                if outputOptions.json {
                    printJSON(
                        .object([
                            ("policy", .string(policy)), ("exitCode", .integer(Int64(report.exitCode))),
                            (
                                "crls",
                                .array(
                                    report.outcomes.map { o in
                                        var members: [(key: String, value: JSONValue)] = [
                                            ("url", .string(o.url)), ("result", .string(o.result.word)),
                                        ]
                                        if let file = o.file { members.append(("file", .string(file))) }
                                        if let issuer = o.issuer { members.append(("issuer", .string(issuer))) }
                                        if case .refused(let why) = o.result {
                                            members.append(("reason", .string(why)))
                                        }
                                        if case .unreachable(let why) = o.result {
                                            members.append(("reason", .string(why)))
                                        }
                                        if case .notWritten(let why) = o.result {
                                            members.append(("reason", .string(why)))
                                        }
                                        if let next = o.nextUpdate {
                                            members.append(("nextUpdate", .string(Timestamp.iso8601(next))))
                                        }
                                        return .object(members)
                                    })
                            ),
                            ("stale", .array(report.stale.map { .string($0.message(policyFile: policy)) })),
                        ]))
                } else {
                    if report.outcomes.isEmpty {
                        print(
                            "No CRL distribution point: the policy's CA certificates carry none and no crls entry names a url."
                        )
                    }
                    for outcome in report.outcomes { print(outcome.line) }
                    for stale in report.stale { print("STALE  " + stale.message(policyFile: policy)) }
                }
                code = report.exitCode
            }
            if code != 0 { throw ExitCode(code) }
        }
    }
}

/// The --pin-file check shared by the commands that sign a trust update.
private func checkKeyForms(_ identity: SigningIdentityOptions<KeyFileOrHSM>, pinFile: String?) throws {
    if identity.keyIsPKCS11, identity.passphraseFile != nil {
        throw ValidationError("--passphrase-file is for a key file; a pkcs11: key takes --pin-file")
    }
    if !identity.keyIsPKCS11, pinFile != nil {
        throw ValidationError("--pin-file is for a pkcs11: key; a key file takes --passphrase-file")
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
private func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    let file = try AtomicOutputFile(path: path)
    try bytes.withUnsafeBytes { try file.write($0) }
    try file.commit()
}

/// The certificates of every --update-key file, in order.
private func loadUpdateKeys(_ files: [String]) throws -> [Certificate] {
    try files.flatMap { try Certificate.load(file: $0) }
}

extension TrustCommand {
    struct BundleUpdate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bundle",
            abstract: "Vendor side: write a signed, versioned trust update from a trust policy.",
            discussion: """
                Packs the policy's trust material (roots, intermediates, time-stamping roots, CRLs, role \
                rules, required and report roles, gate requirement, minimum versions, limits) with a \
                version, an expiry and the update keys and threshold that sites will trust for the NEXT \
                update, and signs it with the given update key. Other key holders add their signatures \
                with `ivpack trust cosign` until the threshold of the keys the sites trust today is met. \
                To rotate update keys, name the new set with --update-key: the update must then be \
                signed by the threshold of the current keys and of the new ones.

                Example:
                  ivpack trust bundle --policy site/trust-policy.yaml --version 7 \\
                    --expires-days 90 --update-key keys/update-1.pem \\
                    --update-key keys/update-2.pem --update-key keys/update-3.pem \\
                    --threshold 2 --key keys/update-1.key --cert keys/update-1.pem \\
                    --output trust-update-7.json
                """
        )

        @Option(
            name: .long, help: "The trust policy (YAML) whose material the update carries.",
            completion: .file(extensions: ["yaml", "yml"]))
        var policy: String

        @Option(name: .long, help: "The update's version: above every version sites have installed.")
        var version: Int64

        @Option(name: .long, help: "Days until the update expires and sites refuse it (1-3660).")
        var expiresDays: Int = 90

        @Option(
            name: .long, help: "A certificate of an update key trusted for the next update (repeat; PEM).",
            completion: .file())
        var updateKey: [String] = []

        @Option(name: .long, help: "How many of the --update-key keys must sign the next update.")
        var threshold: Int

        @OptionGroup var identity: SigningIdentityOptions<KeyFileOrHSM>

        @Option(name: .long, help: "A file whose first line is the HSM user PIN, for a pkcs11: key.")
        var pinFile: String?

        @Option(name: .long, help: "Where to write the update (JSON).", completion: .file())
        var output: String

        func validate() throws {
            guard (1...3660).contains(expiresDays) else { throw ValidationError("--expires-days must be 1 to 3660") }
            guard !updateKey.isEmpty else { throw ValidationError("give the next update keys with --update-key") }
            try checkKeyForms(identity, pinFile: pinFile)
        }

        mutating func run() throws {
            try reportingErrors {
                let trust = try TrustPolicy.load(path: policy)
                let signer = try identity.load(pinFile: pinFile)
                let now = Timestamp.now()
                let payload = try TrustUpdateBuilder.payload(
                    policy: trust, version: version, issued: now, expires: now + Int64(expiresDays) * 86_400,
                    updateKeys: try loadUpdateKeys(updateKey), threshold: threshold)
                let update = try SignedTrustUpdate.make(payload: payload, signers: [signer])
                try writeAtomically(update.bytes, to: output)
                print(
                    "Wrote \(output): trust update version \(version), expires \(Timestamp.iso8601(payload.expires)), "
                        + "\(payload.files.count) files, next update keys \(threshold) of \(payload.updateKeys.count); "
                        + "signed by \(signer.certificate.subject)")
            }
        }
    }

    struct Cosign: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cosign",
            abstract: "Vendor side: add one update key's signature to a trust update.",
            discussion: """
                Signs the update's payload bytes, exactly as the first signer signed them, and rewrites \
                the file atomically with one more signature. Nothing already signed changes.

                Example:
                  ivpack trust cosign trust-update-7.json --key keys/update-2.key \\
                    --cert keys/update-2.pem
                """
        )

        @Argument(help: "The trust update to add a signature to.", completion: .file())
        var update: String

        @OptionGroup var identity: SigningIdentityOptions<KeyFileOrHSM>

        @Option(name: .long, help: "A file whose first line is the HSM user PIN, for a pkcs11: key.")
        var pinFile: String?

        func validate() throws { try checkKeyForms(identity, pinFile: pinFile) }

        mutating func run() throws {
            try reportingErrors {
                let signed = try SignedTrustUpdate.load(path: update)
                let signer = try identity.load(pinFile: pinFile)
                let more = try signed.adding(signatureBy: signer)
                try writeAtomically(more.bytes, to: update)
                print("Signed \(update) as \(signer.certificate.subject): \(more.signatures.count) signatures")
            }
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Site side: set up the root of trust for trust updates.",
            discussion: """
                Records the update keys and the threshold that must sign the first trust update, as \
                state version 0 of a new state folder. Take the update-key certificates from the vendor \
                out of band (the installer kit), and compare their SHA-256 fingerprints, printed here, \
                with the ones the vendor published. An existing state is never overwritten.

                Example:
                  ivpack trust init --state /etc/ivpack/trust --update-key update-1.pem \\
                    --update-key update-2.pem --update-key update-3.pem --threshold 2
                """
        )

        @Option(name: .long, help: "The trust state folder to create.", completion: .directory)
        var state: String

        @Option(
            name: .long, help: "A certificate of an update key trusted for the first update (repeat; PEM).",
            completion: .file())
        var updateKey: [String] = []

        @Option(name: .long, help: "How many of the --update-key keys must sign the first update.")
        var threshold: Int

        func validate() throws {
            guard !updateKey.isEmpty else { throw ValidationError("give the update keys with --update-key") }
        }

        mutating func run() throws {
            try reportingErrors {
                let keys = try loadUpdateKeys(updateKey)
                try TrustStore.initialise(state: state, updateKeys: keys, threshold: threshold, now: Timestamp.now())
                print("Initialised \(state): trust state version 0; the first update needs \(threshold) of:")
                for key in keys { print("  \(key.fingerprint.hex)  \(key.subject)") }
            }
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "update",
            abstract: "Site side: install a signed trust update.",
            discussion: """
                Installs the update only when at least the threshold of the currently trusted update \
                keys signed it, its version is above the installed one, and it has not expired. The new \
                state is written beside the old ones (kept as history) and switched to in one rename. \
                `ivpack verify --trust STATE` then uses its policy.

                Exit codes: 0 installed; 1 refused (signatures, version or expiry); 2 a malformed \
                update, or no state (run ivpack trust init); 3 I/O failure.

                Example:
                  ivpack trust update trust-update-7.json --state /etc/ivpack/trust
                """
        )

        @Argument(help: "The trust update file (ivpack trust bundle).", completion: .file())
        var update: String

        @Option(name: .long, help: "The trust state folder (ivpack trust init).", completion: .directory)
        var state: String

        @OptionGroup var outputOptions: JSONOutputOptions

        mutating func run() throws {
            try reportingErrors {
                let result = try TrustStore.install(updatePath: update, state: state, now: Timestamp.now())
                if outputOptions.json {
                    printJSON(
                        .object([
                            ("state", .string(state)), ("version", .integer(result.state.version)),
                            ("previousVersion", .integer(result.previousVersion)),
                            ("policy", .string(result.policyPath)),
                            ("expires", .string(Timestamp.iso8601(result.state.expires ?? 0))),
                            ("threshold", .integer(result.state.threshold)),
                            ("updateKeys", .array(result.state.updateKeys.map { .string($0.fingerprint.hex) })),
                        ]))
                } else {
                    print(
                        "Installed trust update version \(result.state.version) (was \(result.previousVersion)) "
                            + "in \(state); policy \(result.policyPath)")
                    for check in result.signatures { print("  " + check.line) }
                    print("Next update: \(result.state.threshold) of \(result.state.updateKeys.count) update keys")
                }
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Site side: show the trust state in force and the history kept.",
            discussion: """
                Example:
                  ivpack trust status --state /etc/ivpack/trust
                """
        )

        @Option(name: .long, help: "The trust state folder.", completion: .directory)
        var state: String

        mutating func run() throws {
            try reportingErrors {
                let current = try TrustStore.current(state: state)
                print("Trust state version \(current.version), installed \(Timestamp.iso8601(current.installedAt))")
                if let expires = current.expires { print("Update expires \(Timestamp.iso8601(expires))") }
                print("Next update needs \(current.threshold) of:")
                for key in current.updateKeys { print("  \(key.fingerprint.hex)  \(key.subject)") }
                print(
                    "History: " + (try TrustStore.history(state: state)).map { "v\($0.version)" }.joined(separator: " ")
                )
            }
        }
    }
}
