#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The installation-qualification (IQ) report (clause 3.5, annex C): the record of one `verify`
/// on site, with who ran it, where, when, for what purpose, every check with its evidence, the
/// problems found and the conclusion.
///
/// A report is a value built from a `VerifyReport` and the context `verify` ran in; its JSON form
/// (`json`, written as canonical JSON by `canonicalBytes`, format `ivpack-iq-report/1`, see
/// Schemas/iq-report.schema.json) is the record that `ivpack sign-report` signs. The conclusion
/// never claims more than was done: `fail` when a check failed; `incomplete` when no check
/// failed but a step of the IQ did not run (installation, on-site qualification); `pass` only
/// when verification, installation and qualification all ran and passed (warnings allowed).
public struct IQReport: Sendable {
    /// The format name written in the report.
    public static let format = "ivpack-iq-report/1"
    /// Largest report `sign-report` and `verify-report` read.
    public static let maxBytes = 16 << 20
    /// Deepest nesting a report needs (report, checks, check, evidence, value) plus margin.
    static let maxDepth = 8

    /// The conclusion of an IQ.
    public enum Conclusion: String, Sendable {
        /// Verification, installation and qualification ran, and no check failed (warnings allowed).
        case pass
        /// No check failed, but a step of the IQ did not run: never a pass.
        case incomplete
        /// At least one check failed.
        case fail
    }

    /// The steps of an IQ that the checks show did not run: `installation` (no `install.switch`
    /// check that passed: a verify-only report) and `qualification` (no `qualification.*` check:
    /// on-site function and baseline checks, issue 16, not yet run by ivpack).
    public static func missingSteps(_ checks: [(id: String, status: String)]) -> [String] {
        var missing: [String] = []
        // Verification always starts with the manifest check; a report of a qualification run
        // without the install's kept report has none.
        if !checks.contains(where: { $0.id == CheckID.manifest.rawValue }) { missing.append("verification") }
        if !checks.contains(where: { $0.id == CheckID.installSwitch.rawValue && $0.status == "pass" }) {
            missing.append("installation")
        }
        if !checks.contains(where: { $0.id.hasPrefix("qualification.") }) { missing.append("qualification") }
        return missing
    }

    /// The conclusion the checks call for: `fail` when one failed, else `incomplete` while a step
    /// is missing, else `pass`. One rule for the writer, `verify-report` and scripts/check-schemas.py.
    public static func conclusion(for checks: [(id: String, status: String)]) -> Conclusion {
        if checks.contains(where: { $0.status == "fail" }) { return .fail }
        return missingSteps(checks).isEmpty ? .pass : .incomplete
    }

    /// Where the installer identity of the report comes from.
    public enum InstallerSource: String, Sendable {
        /// The subject of the client certificate the licence server authenticated (mutual TLS).
        case licenseClientCertificate = "license-client-certificate"
        /// The operating-system user that ran `verify` (no licence check identified the installer).
        case osUser = "os-user"
    }

    /// What was qualified (annex C.1 "评估对象").
    public struct Object: Sendable, Equatable {
        /// Product name from the manifest; nil when the manifest could not be read.
        public var product: String?
        /// Release version from the manifest; nil when the manifest could not be read.
        public var version: String?
        /// Vendor from the manifest, when known.
        public var vendor: String?
        /// SHA-256 of the manifest, the content every bundle signature covers.
        public var manifestSHA256: String?
        /// The bundle's file name (no folder).
        public var bundleFile: String
        /// The bundle's size in bytes, when it could be read.
        public var bundleBytes: Int64?

        /// An object with every value given.
        public init(
            product: String?, version: String?, vendor: String?, manifestSHA256: String?, bundleFile: String,
            bundleBytes: Int64?
        ) {
            self.product = product
            self.version = version
            self.vendor = vendor
            self.manifestSHA256 = manifestSHA256
            self.bundleFile = bundleFile
            self.bundleBytes = bundleBytes
        }
    }

    /// Who took part (annex C.1 "评估人员").
    public struct People: Sendable, Equatable {
        /// The installer: the licence check's installer certificate subject, else the OS user.
        public var installer: String
        /// Where `installer` comes from.
        public var installerSource: InstallerSource
        /// SHA-256 of the installer's certificate, when the licence check named it.
        public var installerCertificateSHA256: String?
        /// The operating-system user that ran `verify`.
        public var operatorUser: String
        /// The host `verify` ran on.
        public var host: String
    }

    /// One problem found: a failed or warned check and its findings (clause 4.1.2 g).
    public struct Problem: Sendable, Equatable {
        /// The check's id.
        public var check: String
        /// `fail` or `warn`.
        public var status: Check.Status
        /// The check's title.
        public var title: String
        /// Its findings.
        public var details: [String]
    }

    /// The circumstances of one `verify`, which the verification itself does not know.
    public struct Context: Sendable {
        /// Purpose of the IQ in words; nil gives "Installation qualification of PRODUCT VERSION".
        public var purpose: String?
        /// The site identifier (as licensed), when known.
        public var siteID: String?
        /// When verification started, seconds since 1970.
        public var startTime: Int64
        /// When the last check (the licence check included) ended, seconds since 1970.
        public var endTime: Int64
        /// The operating-system user running `verify`.
        public var operatorUser: String
        /// The host name.
        public var host: String
        /// The operating system (`uname`: name, release, machine).
        public var operatingSystem: String
        /// The vendor named by the bundle's manifest, when known.
        public var vendor: String?
        /// The bundle's size in bytes, when known.
        public var bundleBytes: Int64?

        /// A context with every value given.
        public init(
            purpose: String?, siteID: String?, startTime: Int64, endTime: Int64, operatorUser: String, host: String,
            operatingSystem: String, vendor: String?, bundleBytes: Int64?
        ) {
            self.purpose = purpose
            self.siteID = siteID
            self.startTime = startTime
            self.endTime = endTime
            self.operatorUser = operatorUser
            self.host = host
            self.operatingSystem = operatingSystem
            self.vendor = vendor
            self.bundleBytes = bundleBytes
        }

        /// The context of this process for `report`: the OS user, host and operating system, the
        /// bundle's size, and the vendor from its manifest when that manifest is the one verified.
        public static func live(
            for report: VerifyReport, purpose: String?, siteID: String?, startTime: Int64, endTime: Int64,
            manifest: Manifest? = nil
        ) -> Context {
            let bundle = try? InputFile(path: report.bundle)
            // The manifest the caller already holds (install) spares reading the bundle again.
            let vendor =
                manifest.map(\.product.vendor)
                ?? report.manifestDigest.flatMap { IQReport.vendor(bundlePath: report.bundle, manifestDigest: $0) }
            return Context(
                purpose: purpose, siteID: siteID, startTime: startTime, endTime: endTime,
                operatorUser: LocalIdentity.userName(),
                host: LocalIdentity.hostName() ?? "unknown host", operatingSystem: LocalIdentity.operatingSystem(),
                vendor: vendor, bundleBytes: bundle?.size)
        }
    }

    /// `IQ-<UTC yyyyMMdd-HHmmss of the start>-<first 8 hex digits of the manifest SHA-256>`.
    public var reportID: String
    /// What was qualified.
    public var object: Object
    /// Why, in words.
    public var purpose: String
    /// Start of the IQ, seconds since 1970.
    public var startTime: Int64
    /// End of the IQ, seconds since 1970.
    public var endTime: Int64
    /// The site identifier, when known.
    public var siteID: String?
    /// Who took part.
    public var people: People
    /// The operating system (`uname`); the environment checks are among `checks`.
    public var operatingSystem: String
    /// The version of ivpack that ran the checks.
    public var ivpackVersion: String
    /// That ivpack's build: commit, build date and the OpenSSL, libarchive and libgit2 it ran
    /// with (nil in a report written before ivpack recorded it).
    public var ivpackBuild: BuildInfo?
    /// Every check, in the order it ran, with its result and evidence.
    public var checks: [Check]
    /// The failed and warned checks, in the order they ran.
    public var problems: [Problem]
    /// Pass exactly when no check failed.
    public var conclusion: Conclusion
    /// The conclusion in one sentence.
    public var conclusionStatement: String
    /// The audit log's event count and head hash when the report was written, when there is a log.
    public var audit: IQReportAudit?
    /// The release's components from the verified manifest (kind, version evidence, files, digests), when read.
    public var components: [IQReportComponent]?
    /// What on-site qualification measured (cases, latencies, concurrency, resources), when it ran.
    public var qualification: QualificationMeasurements?

    /// The report of `verification` in `context`.
    public init(verification: VerifyReport, context: Context) {
        let bundleFile =
            verification.bundle.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init)
            ?? verification.bundle
        let idDigest =
            verification.manifestDigest?.hex
            // Without a manifest there is no digest to name the object; the bundle's name, size and
            // the start time keep two such reports apart.
            ?? SHA256Digest.of(Array("\(bundleFile)\n\(context.bundleBytes ?? -1)\n\(context.startTime)".utf8)).hex
        reportID = "IQ-" + Self.compactUTC(context.startTime) + "-" + String(idDigest.prefix(8))
        object = Object(
            product: verification.product, version: verification.version, vendor: context.vendor,
            manifestSHA256: verification.manifestDigest?.hex, bundleFile: bundleFile, bundleBytes: context.bundleBytes)
        let named = [verification.product, verification.version].compactMap { $0 }.joined(separator: " ")
        purpose = context.purpose ?? "Installation qualification of \(named.isEmpty ? bundleFile : named)"
        startTime = context.startTime
        endTime = context.endTime
        siteID = context.siteID
        let license = verification.checks.first { $0.id == .license && $0.status == .pass }
        let certified = license?.evidence.first { $0.key == "installer" }?.value
        if let certified, !certified.isEmpty {
            people = People(
                installer: certified, installerSource: .licenseClientCertificate,
                installerCertificateSHA256: license?.evidence.first { $0.key == "installerCertificateSHA256" }?.value,
                operatorUser: context.operatorUser, host: context.host)
        } else {
            people = People(
                installer: context.operatorUser, installerSource: .osUser, installerCertificateSHA256: nil,
                operatorUser: context.operatorUser, host: context.host)
        }
        operatingSystem = context.operatingSystem
        ivpackVersion = IVPackVersion.current
        ivpackBuild = BuildInfo.current
        checks = verification.checks
        problems = verification.checks.filter { $0.status != .pass }
            .map { Problem(check: $0.id.rawValue, status: $0.status, title: $0.title, details: $0.details) }
        let statuses = verification.checks.map { (id: $0.id.rawValue, status: $0.status.rawValue) }
        conclusion = Self.conclusion(for: statuses)
        let failed = checks.filter { $0.status == .fail }
        let warned = checks.count(where: { $0.status == .warn })
        let subject = named.isEmpty ? "The bundle \(bundleFile)" : named
        let place = context.siteID.map { " at site \($0)" } ?? ""
        let passedAll =
            "all \(checks.count) checks passed" + (warned == 0 ? "" : ", \(warned) with a warning (see Problems found)")
        if conclusion == .pass {
            conclusionStatement =
                "PASS: \(subject) passed installation qualification\(place): verified, installed and qualified; \(passedAll)."
        } else if conclusion == .incomplete {
            let missing = Self.missingSteps(statuses)
            let steps = [("verification", "verified"), ("installation", "installed"), ("qualification", "qualified")]
            let done = steps.filter { !missing.contains($0.0) }.map(\.1)
            let not = steps.filter { missing.contains($0.0) }.map { "not " + $0.1 }
            func list(_ words: [String]) -> String {
                words.count <= 1
                    ? words.joined() : words.dropLast().joined(separator: ", ") + " and " + words.last!
            }
            conclusionStatement =
                "INCOMPLETE: \(subject) was \(list(done))\(place) (\(passedAll)) but \(list(not)): "
                + "the installation qualification is not complete, and this report does not qualify it for clinical use."
        } else {
            conclusionStatement =
                "FAIL: \(subject) did not pass installation qualification\(place): \(failed.count) of \(checks.count) checks failed ("
                + failed.map(\.id.rawValue).joined(separator: ", ") + "). It must not be put into clinical use."
        }
    }

    /// How many checks passed, warned and failed.
    public var counts: (passed: Int, warned: Int, failed: Int) {
        (
            checks.count(where: { $0.status == .pass }), checks.count(where: { $0.status == .warn }),
            checks.count(where: { $0.status == .fail })
        )
    }

    /// The ids of the environment checks (clause 4.1.1), in order.
    public var environmentCheckIDs: [CheckID] {
        checks.map(\.id).filter { $0 == .environment || $0.rawValue.hasPrefix("environment.") }
    }

    /// The report as JSON (see Schemas/iq-report.schema.json).
    public var json: JSONValue {
        func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        let c = counts
        let members: [(key: String, value: JSONValue)] =
            [
                ("format", .string(Self.format)),
                ("reportID", .string(reportID)),
                ("generator", .string("ivpack \(ivpackVersion)")),
                (
                    "object",
                    .object([
                        ("product", optional(object.product)), ("version", optional(object.version)),
                        ("vendor", optional(object.vendor)),
                        ("manifestSHA256", optional(object.manifestSHA256)), ("bundleFile", .string(object.bundleFile)),
                        ("bundleBytes", object.bundleBytes.map { .integer($0) } ?? .null),
                    ])
                ),
                ("purpose", .string(purpose)),
                (
                    "time",
                    .object([
                        ("start", .string(Timestamp.iso8601(startTime))), ("end", .string(Timestamp.iso8601(endTime))),
                    ])
                ),
                ("place", .object([("siteID", optional(siteID)), ("host", .string(people.host))])),
                (
                    "people",
                    .object([
                        ("installer", .string(people.installer)),
                        ("installerSource", .string(people.installerSource.rawValue)),
                        ("installerCertificateSHA256", optional(people.installerCertificateSHA256)),
                        ("operator", .string(people.operatorUser)), ("host", .string(people.host)),
                    ])
                ),
                (
                    "environment",
                    .object(
                        [
                            ("operatingSystem", .string(operatingSystem)), ("ivpackVersion", .string(ivpackVersion)),
                            ("checks", .array(environmentCheckIDs.map { .string($0.rawValue) })),
                        ]
                            + (ivpackBuild.map { build in
                                [
                                    (
                                        "ivpackBuild",
                                        .object([
                                            ("commit", .string(build.commit)), ("date", .string(build.date)),
                                            ("libraries", .array(build.libraries.map { .string($0) })),
                                        ])
                                    )
                                ]
                            } ?? []))
                ),
                ("checks", .array(checks.map(\.json))),
                (
                    "summary",
                    .object([
                        ("checks", .integer(checks.count)), ("passed", .integer(c.passed)),
                        ("warned", .integer(c.warned)),
                        ("failed", .integer(c.failed)),
                    ])
                ),
                (
                    "problems",
                    .array(
                        problems.map {
                            .object([
                                ("check", .string($0.check)), ("status", .string($0.status.rawValue)),
                                ("title", .string($0.title)),
                                ("details", .array($0.details.map { .string($0) })),
                            ])
                        })
                ),
                (
                    "conclusion",
                    .object([("result", .string(conclusion.rawValue)), ("statement", .string(conclusionStatement))])
                ),
            ]
        var extra: [(key: String, value: JSONValue)] = []
        if let qualification { extra.append(("qualification", qualification.json)) }
        if let audit { extra.append(("audit", audit.json)) }
        if let components { extra.append(("components", .array(components.map(\.json)))) }
        return .object(members + extra)
    }

    /// The canonical JSON bytes of the report: what is written, signed and verified.
    public var canonicalBytes: [UInt8] { CanonicalJSON.encode(json) }

    /// `yyyyMMdd-HHmmss` in UTC.
    static func compactUTC(_ seconds: Int64) -> String { Timestamp.compact(seconds) }

    /// The vendor in the manifest of `bundlePath`, if its manifest is the one with `manifestDigest`.
    static func vendor(bundlePath: String, manifestDigest: SHA256Digest) -> String? {
        guard let reader = try? BundleReader(path: bundlePath, blockSize: 64 << 10),
            reader.manifestDigest == manifestDigest
        else { return nil }
        return reader.manifest.product.vendor
    }
}

// MARK: - The rules of a report

/// The rules a report document must follow beyond parsing: what `verify-report` checks and
/// `sign-report` requires before signing.
public enum IQReportRules {
    /// The problems of the report `bytes`, each naming the member concerned; empty when the report
    /// is a canonical `ivpack-iq-report/1` document whose summary, problems and conclusion agree
    /// with its checks.
    public static func problems(_ bytes: [UInt8]) -> [String] {
        let value: JSONValue
        do {
            value = try JSONParser.parse(
                bytes, limits: JSONLimits(maxBytes: IQReport.maxBytes, maxDepth: IQReport.maxDepth))
        } catch {
            return ["the report is not JSON as ivpack writes it: \(error)"]
        }
        guard value.objectValue != nil else { return ["the report is \(value.typeName), not an object"] }
        var problems: [String] = []
        guard value["format"]?.stringValue == IQReport.format else {
            return [
                "/format is \(value["format"].map { PrettyJSON.render($0) } ?? "missing"), not \"\(IQReport.format)\": this is not an ivpack IQ report"
            ]
        }
        if CanonicalJSON.encode(value) != bytes {
            problems.append(
                "the report is not in canonical form (keys sorted, no whitespace): it was edited after ivpack wrote it")
        }
        let allowed = [
            "format", "reportID", "generator", "object", "purpose", "time", "place", "people", "environment", "checks",
            "summary", "problems", "conclusion",
        ]
        for m in value.objectValue!
        where !allowed.contains(m.key) && !["qualification", "audit", "components"].contains(m.key) {
            problems.append("/\(m.key): unknown member")
        }
        for key in allowed where value[key] == nil { problems.append("/\(key): missing") }
        if let components = value["components"] { problems += IQReportComponent.problems(components) }
        if let audit = value["audit"] {
            let head = audit["headSHA256"]
            let events = audit["events"]?.int64Value
            if audit["log"]?.stringValue == nil || events.map({ $0 < 0 }) ?? true
                || (head != .null
                    && !(head?.stringValue.map { SHA256Digest(hex: $0) != nil && $0 == $0.lowercased() } ?? false))
                || ((events == 0) != (head == .null)) || audit.objectValue?.count != 3
            {
                problems.append(
                    "/audit: needs exactly log, events (from 0) and headSHA256 (64 lower-case hex digits, null only for 0 events)"
                )
            }
        }
        if let id = value["reportID"]?.stringValue {
            if !isReportID(id) { problems.append("/reportID: \"\(id)\" is not IQ-yyyyMMdd-HHmmss-xxxxxxxx") }
        } else if value["reportID"] != nil {
            problems.append("/reportID: not a string")
        }
        if let digest = value["object"]?["manifestSHA256"], digest != .null {
            if !(digest.stringValue.map { SHA256Digest(hex: $0) != nil && $0 == $0.lowercased() } ?? false) {
                problems.append("/object/manifestSHA256: not 64 lower-case hex digits")
            }
        }
        guard let checks = value["checks"]?.arrayValue else {
            problems.append("/checks: not an array")
            return problems
        }
        var statuses: [(id: String, status: String)] = []
        for (i, c) in checks.enumerated() {
            guard let id = c["id"]?.stringValue, let status = c["status"]?.stringValue,
                ["pass", "warn", "fail"].contains(status),
                c["title"]?.stringValue != nil
            else {
                problems.append("/checks/\(i): needs a string id and title and a status of pass, warn or fail")
                continue
            }
            statuses.append((id, status))
        }
        let failed = statuses.filter { $0.status == "fail" }.count
        let warned = statuses.filter { $0.status == "warn" }.count
        let expected = IQReport.conclusion(for: statuses).rawValue
        let result = value["conclusion"]?["result"]?.stringValue
        if result != expected {
            let missing = IQReport.missingSteps(statuses)
            problems.append(
                "/conclusion/result is \(result.map { "\"\($0)\"" } ?? "missing") but \(failed) check\(failed == 1 ? "" : "s") failed"
                    + (failed == 0 && !missing.isEmpty ? " and \(missing.joined(separator: ", ")) did not run" : "")
                    + ": it must be \"\(expected)\"")
        }
        if value["conclusion"]?["statement"]?.stringValue?.hasPrefix(expected.uppercased() + ":") != true {
            problems.append("/conclusion/statement does not begin with \"\(expected.uppercased()):\"")
        }
        let summary = value["summary"]
        for (key, count) in [
            ("checks", statuses.count), ("passed", statuses.count - failed - warned), ("warned", warned),
            ("failed", failed),
        ]
        where summary?[key]?.int64Value != Int64(count) {
            problems.append("/summary/\(key) is not \(count), the count in /checks")
        }
        let listed = value["problems"]?.arrayValue?.compactMap { p -> String? in
            guard let check = p["check"]?.stringValue, let status = p["status"]?.stringValue else { return nil }
            return "\(check):\(status)"
        }
        let notPassed = statuses.filter { $0.status != "pass" }.map { "\($0.id):\($0.status)" }
        if listed != notPassed {
            problems.append(
                "/problems does not list exactly the failed and warned checks (\(notPassed.isEmpty ? "none" : notPassed.joined(separator: ", ")))"
            )
        }
        return problems
    }

    static func isReportID(_ id: String) -> Bool {
        let u = Array(id.utf8)
        guard u.count == 27, id.hasPrefix("IQ-"), u[11] == UInt8(ascii: "-"), u[18] == UInt8(ascii: "-") else {
            return false
        }
        let digits = Array(u[3..<11]) + Array(u[12..<18])
        return digits.allSatisfy { (0x30...0x39).contains($0) }
            && u[19...].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

// MARK: - Signing and checking a report

extension InputError {
    /// A report that cannot be signed as given: the file and every problem, one per line.
    public static func report(_ file: String, problems: [String]) -> InputError {
        InputError(
            .report,
            Diagnostic(
                file: file, problem: "not a valid ivpack IQ report:\n  " + problems.joined(separator: "\n  "),
                hint: "Sign the report exactly as `ivpack verify --report` wrote it"))
    }
}

/// What `verify-report` found about one signed IQ report: a value, never a throw.
public struct IQReportVerification: Sendable {
    /// The report's path, as given.
    public var report: String
    /// The signature's path, as given.
    public var signature: String
    /// The report's ID, when the report parses.
    public var reportID: String?
    /// The product the report names, when the report parses.
    public var product: String?
    /// The version the report names, when the report parses.
    public var version: String?
    /// The conclusion the report states (`pass` or `fail`), when the report parses.
    public var conclusion: String?
    /// The signer's certificate subject, when the signature parses (a claim unless `signature` passed).
    public var signer: String?
    /// The signing time the signature carries, seconds since 1970.
    public var signingTime: Int64?
    /// `signature`, `report`, and `trust.development` (warning) when the policy or the signer's root is a development one.
    public var checks: [Check]

    /// True when no check failed (warnings allowed).
    public var passed: Bool { !checks.contains { $0.status == .fail } }

    /// The outcome as JSON for `verify-report --json`.
    public var json: JSONValue {
        func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        return .object([
            ("format", .string("ivpack-iq-report-verification/1")), ("report", .string(report)),
            ("signature", .string(signature)),
            ("result", .string(passed ? "pass" : "fail")), ("reportID", optional(reportID)),
            ("product", optional(product)),
            ("version", optional(version)), ("conclusion", optional(conclusion)), ("signer", optional(signer)),
            ("signingTime", optional(signingTime.map(Timestamp.iso8601))), ("checks", .array(checks.map(\.json))),
        ])
    }
}

/// Detached CMS signatures over the exact bytes of an IQ report (`REPORT.json.p7s`).
public enum IQReportSignature {
    /// The signature file name for `reportPath`.
    public static func defaultSignaturePath(for reportPath: String) -> String { reportPath + ".p7s" }

    /// Signs `reportBytes` after checking they are a valid report; throws an `InputError` of kind `.report` when not,
    /// and a crypto error when the key does not belong to `certificate`.
    public static func sign(
        reportBytes: [UInt8], reportPath: String, certificate: Certificate, key: PrivateKey, chain: [Certificate]
    ) throws -> SignedData {
        let problems = IQReportRules.problems(reportBytes)
        guard problems.isEmpty else { throw InputError.report(reportPath, problems: problems) }
        return try SignedData.sign(content: reportBytes, certificate: certificate, key: key, chain: chain)
    }

    /// Signs `reportBytes` with `identity` once its certificate has passed `SigningIdentityCheck`
    /// (an end entity, strong enough) and the bytes are a valid report.
    public static func sign(reportBytes: [UInt8], reportPath: String, identity: SigningIdentity) throws -> SignedData {
        try SigningIdentityCheck.require(identity.certificate, chain: identity.chain)
        return try sign(
            reportBytes: reportBytes, reportPath: reportPath, certificate: identity.certificate, key: identity.key,
            chain: identity.chain)
    }

    /// Checks the signature `signatureDER` over `reportBytes` (the CMS mathematics, the signer's path
    /// to a root of `policy` with its CRLs at `now`, and a signer certificate carrying the installer
    /// policy or the code-signing usage) and the report against `IQReportRules`.
    public static func verify(
        reportBytes: [UInt8], signatureDER: [UInt8], reportPath: String, signaturePath: String,
        policy: TrustPolicy, now: Int64
    ) -> IQReportVerification {
        var outcome = IQReportVerification(report: reportPath, signature: signaturePath, checks: [])
        var developmentRoot = false
        let (signatureCheck, signed) = signature(
            reportBytes: reportBytes, der: signatureDER, signaturePath: signaturePath, policy: policy,
            now: now, developmentRoot: &developmentRoot)
        outcome.checks.append(signatureCheck)
        outcome.signer = signed?.signerCertificate?.subject
        outcome.signingTime = signed?.signingTime
        if let value = try? JSONParser.parse(
            reportBytes, limits: JSONLimits(maxBytes: IQReport.maxBytes, maxDepth: IQReport.maxDepth))
        {
            outcome.reportID = value["reportID"]?.stringValue
            outcome.product = value["object"]?["product"]?.stringValue
            outcome.version = value["object"]?["version"]?.stringValue
            outcome.conclusion = value["conclusion"]?["result"]?.stringValue
        }
        let problems = IQReportRules.problems(reportBytes)
        outcome.checks.append(
            Check(
                .report,
                title: "The report is an ivpack IQ report whose summary, problems and conclusion agree with its checks",
                status: problems.isEmpty ? .pass : .fail, details: problems,
                evidence: [("sha256", SHA256Digest.of(reportBytes).hex), ("bytes", String(reportBytes.count))]
                    + (outcome.conclusion.map { [("conclusion", $0)] } ?? [])))
        if policy.development || developmentRoot {
            outcome.checks.append(
                Check(
                    .trustDevelopment, status: .warn,
                    details: [
                        "THIS TRUST POLICY TRUSTS A DEVELOPMENT PKI (\(policy.file)). A report signature checked with it proves nothing about a real installation."
                    ]))
        }
        return outcome
    }

    private static func signature(
        reportBytes: [UInt8], der: [UInt8], signaturePath: String, policy: TrustPolicy, now: Int64,
        developmentRoot: inout Bool
    ) -> (Check, SignedData?) {
        let title = "Signature \(signaturePath) over the report's exact bytes, by a certificate the trust policy trusts"
        let signed: SignedData
        do {
            signed = try SignedData.parse(der: der, source: signaturePath)
        } catch {
            return (
                Check(.reportSignature, title: title, status: .fail, details: ["not a valid CMS signature: \(error)"]),
                nil
            )
        }
        guard let signer = signed.signerCertificate else {
            return (
                Check(
                    .reportSignature, title: title, status: .fail,
                    details: ["the signature does not carry its signer's certificate"]), signed
            )
        }
        var evidence: [(key: String, value: String)] = [
            ("signer", signer.subject), ("issuer", signer.issuer), ("serial", signer.serialHex),
            ("certificateSHA256", signer.fingerprint.hex),
            ("validity", "\(Timestamp.iso8601(signer.notBefore)) to \(Timestamp.iso8601(signer.notAfter))"),
        ]
        if let t = signed.signingTime { evidence.append(("signingTime", Timestamp.iso8601(t))) }
        func fail(_ detail: String) -> (Check, SignedData?) {
            (Check(.reportSignature, title: title, status: .fail, details: [detail], evidence: evidence), signed)
        }
        if case .invalid(let problem) = signed.verifySignature(content: reportBytes) {
            return fail(
                "the signature does not match this report (\(problem)): the report or the signature was changed")
        }
        // The signing time inside the signature is the signer's own claim, so the path is judged now.
        evidence.append(("validatedAt", Timestamp.iso8601(now) + " (now)"))
        let untrusted = signed.certificates.filter { !$0.sameCertificate(as: signer) } + policy.intermediates
        let chain = ChainValidator.validate(
            signer, untrusted: untrusted, roots: policy.trustedRoots, crls: policy.crls,
            revocation: policy.revocation, at: now)
        let root = chain.chain.last
        developmentRoot = root.map { $0.subject.contains(WellKnownOID.developmentMarker) } ?? false
        if !chain.chain.isEmpty { evidence.append(("chain", chain.chain.map(\.subject).joined(separator: " <- "))) }
        evidence.append(
            (
                "revocation",
                policy.revocation == .disabled
                    ? "not checked (policy: none)"
                    : "checked against \(policy.crls.count) CRL(s) (policy: \(policy.revocation.rawValue))"
            ))
        let freshness = policy.crlFreshness(path: chain.chain.isEmpty ? [signer] : chain.chain, now: now)
        let stale =
            policy.revocation == .require
            ? freshness.filter { $0.state == .expired || $0.state == .noNextUpdate }
                .map { $0.message(policyFile: policy.file) }.joined(separator: "; ") : ""
        for f in freshness where f.state != .current {
            evidence.append(("crlFreshness", f.message(policyFile: policy.file)))
        }
        guard chain.trusted else {
            return fail(
                "the signer's certificate is not trusted by the policy: \(chain.problem ?? "unknown reason")"
                    + (stale.isEmpty ? "" : ": " + stale))
        }
        if !stale.isEmpty { return fail("the signer's revocation status cannot be confirmed: \(stale)") }
        if developmentRoot && !policy.development {
            return fail(
                "the signer chains to a development root (\(root?.subject ?? "")), which this policy does not accept")
        }
        let installer = signer.certificatePolicies.contains(WellKnownOID.roleInstaller)
        let codeSigning = signer.extendedKeyUsages.contains(WellKnownOID.codeSigning)
        guard installer || codeSigning else {
            return fail(
                "the signer's certificate is neither an installer certificate (certificate policy \(WellKnownOID.roleInstaller)) nor a code-signing certificate (extended key usage \(WellKnownOID.codeSigning))"
            )
        }
        evidence.append(
            (
                "signerKind",
                installer ? "installer certificate (policy \(WellKnownOID.roleInstaller))" : "code-signing certificate"
            ))
        return (Check(.reportSignature, title: title, status: .pass, evidence: evidence), signed)
    }
}
