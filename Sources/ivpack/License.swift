import ArgumentParser
import Foundation
import IVPack
import IVPackLicense

struct LicenseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "license",
        abstract: "The reference licence server and its operator commands.",
        discussion: """
            Example:
              ivpack license dev-config /tmp/dev-pki --output /tmp/license-server.yaml
              ivpack license issue --config /tmp/license-server.yaml --id LIC-0001 \\
                --site SITE-001 --product "PulmoScan AI" --min-version V2.0.0.1 \\
                --max-version V2.999.999.999999 --seats 5 --valid-days 365
              ivpack license register out/pulmoscan-V2.3.1.1024.ivp \\
                --config /tmp/license-server.yaml
              ivpack license serve --config /tmp/license-server.yaml
              ivpack license list --server https://127.0.0.1:8443 \\
                --client-cert /tmp/dev-pki/operators/operator-1.pem \\
                --client-key /tmp/dev-pki/operators/operator-1.key \\
                --ca /tmp/dev-pki/root-ca.pem
            """,
        subcommands: [
            Serve.self, DevConfig.self, Register.self, Issue.self, Revoke.self, List.self, Activations.self,
            Export.self,
        ]
    )

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the licence server (HTTPS, mutual TLS; SQLite or PostgreSQL store) until SIGTERM or SIGINT.",
            discussion: """
                Example:
                  ivpack license serve --config /etc/ivpack/license-server.yaml
                """)

        @Option(name: .long, help: "The server configuration (YAML).", completion: .file(extensions: ["yaml", "yml"]))
        var config: String

        mutating func run() async throws {
            let path = config
            try await reportingErrors {
                let configuration = try LicenseServerConfig.load(path: path)
                let server = try await LicenseServer(config: configuration)
                try await server.run(handleSignals: true) { port in
                    // Written unbuffered: scripts wait for this line to know the port.
                    let line =
                        "ivpack licence server listening on https://\(configuration.host):\(port) (database \(configuration.database))\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
                await server.store.close()
            }
        }
    }

    struct DevConfig: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dev-config",
            abstract: "Write a DEVELOPMENT server configuration for a PKI made by `ivpack keys init-dev`.",
            discussion: """
                Example:
                  ivpack license dev-config /tmp/dev-pki --port 8443 \\
                    --database /tmp/licenses.sqlite --output /tmp/license-server.yaml
                """)

        @Argument(help: "The development PKI folder.", completion: .directory)
        var pki: String

        @Option(name: .long, help: "Port to listen on (127.0.0.1); 0 picks a free one.")
        var port: Int = 8443

        @Option(name: .long, help: "The SQLite database file.", completion: .file())
        var database: String = "licenses.sqlite"

        @Option(name: .long, help: "Where to write the configuration.", completion: .file())
        var output: String

        mutating func run() throws {
            try reportingErrors {
                let folder = pki.hasPrefix("/") ? pki : FileManager.default.currentDirectoryPath + "/" + pki
                let db = database.hasPrefix("/") ? database : FileManager.default.currentDirectoryPath + "/" + database
                let text = LicenseServerConfig.developmentText(pkiDirectory: folder, port: port, database: db) + "\n"
                let file = try AtomicOutputFile(path: output)
                try Array(text.utf8).withUnsafeBytes { try file.write($0) }
                try file.commit()
                print("Wrote \(output) (DEVELOPMENT licence server configuration for \(folder))")
            }
        }
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a released bundle with the licence server: only registered bundles are activated.",
            discussion: """
                Records the bundle's manifest digest, product and version in the server's database. \
                Activation of a manifest digest that was never registered is refused (unregistered-release) \
                and takes no seat. Registering the same bundle again changes nothing; the same digest with \
                another product, version or key is refused (exit 2).

                For an encrypted bundle (built with --escrow-cert), the recipient entry wrapped for the \
                server's escrow certificate and the key's check value are read from the bundle itself; \
                the server opens the key with its escrow key at once and refuses (exit 1) a key that does \
                not open or is not the bundle's, and a bundle with no entry for its escrow certificate. \
                --escrowed-key (DER CMS) with --key-check gives them explicitly instead.

                Example:
                  ivpack license register out/pulmoscan-V2.3.1.1024.ivp --config server.yaml
                """)

        @Argument(help: "The released bundle (.ivp).", completion: .file()) var bundle: String
        @Option(
            name: .long, help: "The server configuration (its database and escrow key are used).",
            completion: .file(extensions: ["yaml", "yml"]))
        var config: String
        @Option(
            name: .long, help: "Encrypted bundle: its content key wrapped to the escrow certificate (DER CMS).",
            completion: .file())
        var escrowedKey: String?
        @Option(
            name: .long, help: "Encrypted bundle: the content key's check value (64 hex digits, from the manifest).")
        var keyCheck: String?
        @Flag(name: .long, help: "Print JSON.") var json = false

        func validate() throws {
            if (escrowedKey == nil) != (keyCheck == nil) {
                throw ValidationError("--escrowed-key and --key-check go together")
            }
        }

        mutating func run() async throws {
            try await reportingErrors {
                let configuration = try LicenseServerConfig.load(path: config)
                let store = try await LicenseStores.open(configuration)
                let reader = try BundleReader(path: bundle, blockSize: 16 << 10)
                let manifest = reader.manifest
                var escrowed = try escrowedKey.map { try InputFile.readAll(path: $0, limit: EnvelopedKey.maxBytes) }
                var check = keyCheck
                var source = escrowedKey ?? "escrowed key"
                let escrow = manifest.isEncrypted || escrowed != nil ? try KeyEscrow.load(configuration) : nil
                if escrowed == nil, let encryption = manifest.encryption {
                    // The recipient entry made for this server's escrow certificate, from the bundle.
                    guard let escrow else {
                        throw ReleaseRegistrationError.noEscrowConfigured(config: config)
                    }
                    var found: (path: String, der: [UInt8])?
                    while let entry = try reader.next() {
                        guard case .recipient(let name) = entry.kind else { continue }
                        let der = try reader.readAll(limit: EnvelopedKey.maxBytes)
                        if let wrapped = try? EnvelopedKey.parse(der: der, source: name.path),
                            wrapped.isRecipient(escrow.certificate)
                        {
                            found = (name.path, der)
                            break
                        }
                    }
                    guard let found else {
                        printError(
                            "error: \(bundle): the bundle is encrypted but none of its recipient entries is wrapped for this server's escrow certificate \"\(escrow.certificate.subject)\"; nothing was registered. Build it with --escrow-cert (that certificate), or add one with `ivpack recipients add --name license-escrow --cert ESCROW.pem`"
                        )
                        throw ExitCode(ExitStatus.badInput.rawValue)
                    }
                    escrowed = found.der
                    check = encryption.keyCheck
                    source = "\(bundle): \(found.path)"
                }
                let now = Timestamp.now()
                let outcome = try await ReleaseRegistrar.register(
                    manifestSHA256: reader.manifestDigest, product: manifest.product.name, version: manifest.version,
                    escrowedKey: escrowed, keyCheck: check, escrow: escrow, configPath: config, store: store,
                    actor: "operator \(AuditLog.currentOperator())", now: now, keySource: source)
                let registeredAt: Int64
                switch outcome {
                case .registered: registeredAt = now
                case .alreadyRegistered(let at): registeredAt = at
                }
                if json {
                    printJSON(
                        .object([
                            ("manifestSHA256", .string(reader.manifestDigest.hex)),
                            ("product", .string(manifest.product.name)), ("version", .string(manifest.version)),
                            ("encrypted", .bool(escrowed != nil)),
                            ("registeredAt", .string(Timestamp.iso8601(registeredAt))),
                            ("new", .bool(outcome == .registered)),
                        ]))
                } else {
                    let what =
                        "\(manifest.product.name) \(manifest.version), manifest \(reader.manifestDigest.hex)"
                        + (escrowed == nil ? "" : ", content key escrowed")
                    print(
                        outcome == .registered
                            ? "Registered \(bundle): \(what)"
                            : "Already registered \(bundle) at \(Timestamp.iso8601(registeredAt)): \(what)")
                }
            }
        }
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a licence: to the server's database, or through its admin API.",
            discussion: """
                Example:
                  ivpack license issue --config server.yaml --id LIC-0001 --site SITE-001 \\
                    --product "PulmoScan AI" --min-version V2.0.0.1 \\
                    --max-version V2.999.999.999999 --seats 5 --valid-days 365

                Remotely, with the licence operator's certificate:
                  ivpack license issue --server https://licence.example:8443 \\
                    --client-cert operator.pem --client-key operator.key \\
                    --ca root-ca.pem --id LIC-0001 --site SITE-001 \\
                    --product "PulmoScan AI" --min-version V2.0.0.1 \\
                    --max-version V2.999.999.999999 --seats 5
                """)

        @OptionGroup var target: LicenseTargetOptions
        @Option(name: .long, help: "Licence identifier.") var id: String
        @Option(name: .long, help: "The site the licence is for.") var site: String
        @Option(name: .long, help: "The product name, as in the bundle's manifest.") var product: String
        @Option(name: .long, help: "Lowest version covered.") var minVersion: String
        @Option(name: .long, help: "Highest version covered.") var maxVersion: String
        @Option(name: .long, help: "Distinct bundles that may be activated.") var seats: Int = 1
        @Option(name: .long, help: "Days of validity from now.") var validDays: Int = 365

        func validate() throws {
            guard seats >= 1, seats <= 100_000 else { throw ValidationError("--seats is 1 to 100000") }
            guard validDays >= 1, validDays <= 36_500 else { throw ValidationError("--valid-days is 1 to 36500") }
            guard let range = VersionRange(minimum: minVersion, maximum: maxVersion), !range.isEmpty else {
                throw ValidationError(
                    "--min-version and --max-version must be numeric versions, the minimum not above the maximum")
            }
        }

        mutating func run() async throws {
            let options = self
            try await reportingErrors {
                let issued: LicenseListing
                if let client = try options.target.adminClient() {
                    issued = try options.target.value(
                        await client.issue(
                            LicenseIssueRequest(
                                id: options.id, siteID: options.site, product: options.product,
                                minimumVersion: options.minVersion, maximumVersion: options.maxVersion,
                                seats: options.seats, validDays: options.validDays)))
                } else {
                    issued = try await options.target.withLocalStore { store in
                        let now = Timestamp.now()
                        let license = License(
                            id: options.id, siteID: options.site, product: options.product,
                            minimumVersion: options.minVersion, maximumVersion: options.maxVersion, notBefore: now,
                            notAfter: now + Int64(options.validDays) * 86_400, seats: options.seats, createdAt: now)
                        try await store.issue(license, actor: "operator \(AuditLog.currentOperator())")
                        return LicenseListing(license, activations: 0)
                    }
                }
                print(
                    "Issued \(issued.id): \(issued.product) \(issued.minimumVersion) to \(issued.maximumVersion) for site \(issued.siteID), \(issued.seats) seat(s), until \(issued.notAfter)"
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a licence.",
            discussion: """
                Example:
                  ivpack license revoke --config server.yaml --id LIC-0001
                  ivpack license revoke --server https://licence.example:8443 \\
                    --client-cert operator.pem --client-key operator.key \\
                    --ca root-ca.pem --id LIC-0001
                """)
        @OptionGroup var target: LicenseTargetOptions
        @Option(name: .long, help: "Licence identifier.") var id: String

        mutating func run() async throws {
            let options = self
            try await reportingErrors {
                if let client = try options.target.adminClient() {
                    let result = await client.revoke(id: options.id)
                    if case .failure(let f) = result, f.code == "no-such-license" || f.code == "license-already-revoked"
                    {
                        printError(
                            "error: no valid licence \(options.id) to revoke (\(options.target.server ?? ""): \(f.code))"
                        )
                        throw ExitCode(ExitStatus.badInput.rawValue)
                    }
                    _ = try options.target.value(result)
                } else {
                    let revoked = try await options.target.withLocalStore { store in
                        try await store.revoke(
                            id: options.id, at: Timestamp.now(), actor: "operator \(AuditLog.currentOperator())")
                    }
                    guard revoked else {
                        printError("error: no valid licence \(options.id) to revoke")
                        throw ExitCode(ExitStatus.badInput.rawValue)
                    }
                }
                print("Revoked \(options.id)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List licences and their activations.",
            discussion: """
                Example:
                  ivpack license list --config server.yaml --json
                  ivpack license list --server https://licence.example:8443 \\
                    --client-cert operator.pem --client-key operator.key \\
                    --ca root-ca.pem
                """)
        @OptionGroup var target: LicenseTargetOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        mutating func run() async throws {
            let options = self
            try await reportingErrors {
                let listings: [LicenseListing]
                if let client = try options.target.adminClient() {
                    listings = try options.target.value(await client.licenses())
                } else {
                    listings = try await options.target.withLocalStore { store in
                        var listings: [LicenseListing] = []
                        for license in try await store.licenses() {
                            listings.append(
                                LicenseListing(
                                    license, activations: try await store.activationCount(licenseID: license.id)))
                        }
                        return listings
                    }
                }
                if options.json {
                    printJSON(.array(listings.map(\.json)))
                } else {
                    for l in listings { print(l.line) }
                    if listings.isEmpty { print("No licences.") }
                }
            }
        }
    }

    struct Activations: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List activations: which bundles were activated, where and by whom.",
            discussion: """
                Oldest first; --license keeps one licence's.

                Example:
                  ivpack license activations --config server.yaml --license LIC-0001
                  ivpack license activations --server https://licence.example:8443 \\
                    --client-cert operator.pem --client-key operator.key \\
                    --ca root-ca.pem --json
                """)
        @OptionGroup var target: LicenseTargetOptions
        @Option(name: .long, help: "Only the activations of this licence.") var license: String?
        @Flag(name: .long, help: "Print JSON.") var json = false

        mutating func run() async throws {
            let options = self
            try await reportingErrors {
                let listings: [ActivationListing]
                if let client = try options.target.adminClient() {
                    listings = try options.target.value(await client.activations(licenseID: options.license))
                } else {
                    listings = try await options.target.withLocalStore { store in
                        guard let id = options.license else {
                            return try await store.activations().map(ActivationListing.init)
                        }
                        guard try await store.license(id: id) != nil else {
                            printError("error: no licence \(id) in \(store.location)")
                            throw ExitCode(ExitStatus.badInput.rawValue)
                        }
                        return try await store.activations(licenseID: id).map(ActivationListing.init)
                    }
                }
                if options.json {
                    printJSON(.array(listings.map(\.json)))
                } else {
                    for a in listings { print(a.line) }
                    if listings.isEmpty { print("No activations.") }
                }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a signed offline licence file for one bundle at an air-gapped site.",
            discussion: """
                The file binds the licence to the bundle's manifest digest and the site; the site runs \
                `ivpack verify ... --license-file FILE --site SITE`.

                Example:
                  ivpack license export --offline --config server.yaml --id LIC-0001 \\
                    --bundle pulmoscan-V2.3.1.1024.ivp --output licence.json

                The bundle must be registered (`ivpack license register`). For an encrypted bundle the file \
                carries its content key wrapped to the site's certificate: give it with --site-cert.
                  ivpack license export --offline --config server.yaml --id LIC-0001 \\
                    --bundle pulmoscan-V2.4.0.1100.ivp --site-cert site-001.pem \\
                    --output licence.json
                """)
        @Option(
            name: .long, help: "The server configuration (database and licence-signing key).",
            completion: .file(extensions: ["yaml", "yml"])) var config: String
        @Option(name: .long, help: "Licence identifier.") var id: String
        @Option(name: .long, help: "The bundle the file is for.", completion: .file()) var bundle: String
        @Option(name: .long, help: "Where to write the licence file.", completion: .file()) var output: String
        @Option(name: .long, help: "Days the file stays valid (never beyond the licence).") var validDays: Int = 30
        @Flag(name: .long, help: "Required: this writes an offline licence file.") var offline = false
        @Option(
            name: .long,
            help:
                "Encrypted bundle: the site's certificate (PEM, RSA or EC) its content key is wrapped to in the file.",
            completion: .file())
        var siteCert: String?

        func validate() throws {
            guard offline else { throw ValidationError("export writes offline licence files only; say --offline") }
            guard (1...366).contains(validDays) else {
                throw ValidationError("--valid-days is 1 to 366 for an offline licence file")
            }
        }

        mutating func run() async throws {
            try await reportingErrors {
                let configuration = try LicenseServerConfig.load(path: config)
                let store = try await LicenseStores.open(configuration)
                guard let license = try await store.license(id: id) else {
                    printError("error: no licence \(id) in \(configuration.database)")
                    throw ExitCode(ExitStatus.badInput.rawValue)
                }
                let inspection = try BundleInspector.inspect(path: bundle)
                let m = inspection.manifest
                let now = Timestamp.now()
                // The file is for the licence's own site and takes no seat.
                let problems = license.ineligibilities(
                    product: m.product.name, version: m.version, siteID: nil, seatsInUse: nil, at: now
                )
                .map(\.description)
                let actor = "operator \(AuditLog.currentOperator())"
                let release = try await store.release(manifestSHA256: inspection.manifestDigest.hex)
                if release == nil {
                    try await store.recordExport(
                        licenseID: id, manifestSHA256: inspection.manifestDigest.hex, notAfter: nil, at: now,
                        actor: actor, refusal: "unregistered-release")
                    printError(
                        "error: cannot export \(id): the bundle \(bundle) (manifest \(inspection.manifestDigest.hex)) is not registered; "
                            + "register the released bundle first: ivpack license register \(bundle) --config \(config)"
                    )
                    throw ExitCode(ExitStatus.checkFailed.rawValue)
                }
                if release?.isEncrypted == true && siteCert == nil {
                    printError(
                        "error: cannot export \(id): the bundle is encrypted; give the site's certificate with --site-cert FILE "
                            + "(the file carries the content key wrapped to it)")
                    throw ExitCode(ExitStatus.badInput.rawValue)
                }
                if !problems.isEmpty {
                    try await store.recordExport(
                        licenseID: id, manifestSHA256: inspection.manifestDigest.hex, notAfter: nil, at: now,
                        actor: actor,
                        refusal: problems.joined(separator: "; "))
                    printError("error: cannot export \(id): " + problems.joined(separator: "; "))
                    throw ExitCode(ExitStatus.checkFailed.rawValue)
                }
                let signer = try GrantSigner(identity: try configuration.grantSigningIdentity())
                var contentKey: [UInt8]?
                if let release, let escrowedKey = release.escrowedKey, let siteCert {
                    guard let escrow = try KeyEscrow.load(configuration) else {
                        throw ReleaseRegistrationError.noEscrowConfigured(config: config)
                    }
                    contentKey = try escrow.rewrap(
                        escrowedKey, to: try Certificate.load(file: siteCert)[0],
                        source: "escrowed key of manifest \(release.manifestSHA256)")
                } else if siteCert != nil {
                    printError("note: the bundle is not encrypted; --site-cert is not used")
                }
                let grant = LicenseGrant(
                    licenseID: license.id, product: license.product, minimumVersion: license.minimumVersion,
                    maximumVersion: license.maximumVersion, siteID: license.siteID,
                    manifestSHA256: inspection.manifestDigest.hex,
                    nonce: "", installerSubject: "", installerFingerprint: "", activationID: 0, issuedAt: now,
                    notAfter: min(now + Int64(validDays) * 86_400, license.notAfter), licenseNotAfter: license.notAfter,
                    contentKey: contentKey)
                let bytes = CanonicalJSON.encode(try signer.sign(grant).json(format: SignedGrant.licenseFileFormat))
                let file = try AtomicOutputFile(path: output)
                try bytes.withUnsafeBytes { try file.write($0) }
                try file.commit()
                try await store.recordExport(
                    licenseID: id, manifestSHA256: inspection.manifestDigest.hex, notAfter: grant.notAfter, at: now,
                    actor: actor)
                print(
                    "Wrote offline licence file \(output): \(id) for site \(license.siteID), bundle \(m.product.name) \(m.version), valid until \(Timestamp.iso8601(grant.notAfter))"
                        + (contentKey == nil
                            ? "" : ", content key wrapped to \"\(try Certificate.load(file: siteCert!)[0].subject)\"")
                )
            }
        }
    }
}
