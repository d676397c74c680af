import ArgumentParser
import Foundation
import IVPack
import IVPackLicense

/// The licence check's options, shared by `verify` and `install`: a licence server over mutual TLS
/// (the installer's certificate and key), or a signed offline licence file.
struct LicenseOptions: ParsableArguments {
    @Option(
        name: .long,
        help:
            "The vendor's licence server, https://host:port; repeat it for several instances, tried in order when one does not answer."
    )
    var licenseServer: [String] = []

    @Option(name: .long, help: "A signed offline licence file (air-gapped sites).", completion: .file())
    var licenseFile: String?

    @Option(name: .long, help: "This site's identifier, as licensed.")
    var site: String?

    @Option(name: .long, help: "The installer's client certificate (PEM) for the licence server.", completion: .file())
    var clientCert: String?

    @Option(
        name: .long,
        help:
            "The installer's private key (PEM); an encrypted key's passphrase comes from $IVPACK_CLIENT_KEY_PASSPHRASE.",
        completion: .file())
    var clientKey: String?

    @Option(
        name: .long,
        help:
            "With --license-file, for an encrypted bundle: the site's certificate (PEM) its content key is wrapped to.",
        completion: .file())
    var siteCert: String?

    @Option(
        name: .long,
        help:
            "The site's private key (PEM) for --site-cert; an encrypted key's passphrase comes from $IVPACK_SITE_KEY_PASSPHRASE.",
        completion: .file())
    var siteKey: String?

    @Option(name: .long, help: "Seconds for one attempt at one licence server before the next is tried.")
    var licenseTimeout: Int64 = 10

    @Option(name: .long, help: "Rounds over the licence servers (each server once a round, with backoff).")
    var licenseAttempts: Int = 3

    /// Bounds the check's time: rounds × servers × timeout, plus the backoff between rounds.
    static let maximumLicenseServers = 8

    func validate() throws {
        if !licenseServer.isEmpty && licenseFile != nil {
            throw ValidationError("give --license-server or --license-file, not both")
        }
        if (!licenseServer.isEmpty || licenseFile != nil) && site == nil {
            throw ValidationError("the licence check needs --site")
        }
        if licenseServer.count > Self.maximumLicenseServers {
            throw ValidationError("give at most \(Self.maximumLicenseServers) --license-server URLs")
        }
        for url in licenseServer {
            guard let c = URLComponents(string: url), c.scheme == "https", let host = c.host, !host.isEmpty else {
                throw ValidationError("--license-server \(url) is not an https://host:port URL")
            }
        }
        if Set(licenseServer).count != licenseServer.count {
            throw ValidationError("a --license-server URL is given twice")
        }
        if !licenseServer.isEmpty && (clientCert == nil || clientKey == nil) {
            throw ValidationError("--license-server needs the installer's --client-cert and --client-key")
        }
        if (siteCert == nil) != (siteKey == nil) { throw ValidationError("--site-cert and --site-key go together") }
        if siteCert != nil && licenseFile == nil {
            throw ValidationError(
                "--site-cert and --site-key are for --license-file (online, the key is wrapped to --client-cert)")
        }
        if !(1...300).contains(licenseTimeout) || !(1...10).contains(licenseAttempts) {
            throw ValidationError("--license-timeout is 1 to 300 seconds and --license-attempts 1 to 10")
        }
    }

    /// Who decides the licence, judged by `policy`; nil when no licence check was asked for.
    func authority(policy: TrustPolicy) -> (any LicenseAuthority)? {
        guard let site else { return nil }
        if !licenseServer.isEmpty, let cert = clientCert, let key = clientKey {
            let passphrase = ProcessInfo.processInfo.environment["IVPACK_CLIENT_KEY_PASSPHRASE"].map { Array($0.utf8) }
            let client = LicenseClientOptions(
                serverURLs: licenseServer, clientCertificate: cert, clientKey: key, clientKeyPassphrase: passphrase,
                siteID: site, timeoutSeconds: licenseTimeout, attempts: licenseAttempts)
            return LicenseServerAuthority(options: client, policy: policy)
        }
        if let file = licenseFile {
            return LicenseFileAuthority(
                file: file, siteID: site, policy: policy, siteCertificate: siteCert, siteKey: siteKey,
                siteKeyPassphrase: ProcessInfo.processInfo.environment["IVPACK_SITE_KEY_PASSPHRASE"].map {
                    Array($0.utf8)
                })
        }
        return nil
    }
}

/// `--report`, `--html` and `--purpose`: the IQ report, shared by `verify` and `install`.
struct IQReportOptions: ParsableArguments {
    @Option(
        name: .long, help: "Write the IQ report (canonical JSON, ivpack-iq-report/1) to this file.", completion: .file()
    )
    var report: String?

    @Option(
        name: .long, help: "Write the IQ report as a self-contained, printable HTML page to this file.",
        completion: .file())
    var html: String?

    @Option(
        name: .long,
        help: "The purpose of the IQ, for the report (default: \"Installation qualification of PRODUCT VERSION\").")
    var purpose: String?

    func validate() throws {
        if purpose != nil && report == nil && html == nil {
            throw ValidationError("--purpose is for the IQ report: give --report or --html")
        }
        if let report, report == html { throw ValidationError("--report and --html must name different files") }
    }

    var wanted: Bool { report != nil || html != nil }

    /// Writes the report of `verification` to the files asked for: both written in full before
    /// either is renamed into place.
    func write(_ verification: VerifyReport, siteID: String?, started: Int64) throws {
        guard wanted else { return }
        try write(report(verification, siteID: siteID, started: started))
    }

    /// The report of `verification`, in this process's context, ending now.
    /// `manifest` is the verified manifest when the caller holds it (install), so that the bundle
    /// is not read again.
    func report(_ verification: VerifyReport, siteID: String?, started: Int64, manifest: Manifest? = nil) -> IQReport {
        let context = IQReport.Context.live(
            for: verification, purpose: purpose, siteID: siteID, startTime: started, endTime: Timestamp.now(),
            manifest: manifest)
        var iq = IQReport(verification: verification, context: context)
        iq.components =
            manifest.map(IQReportComponent.of)
            ?? verification.manifestDigest.flatMap {
                IQReportComponent.of(bundlePath: verification.bundle, manifestDigest: $0)
            }
        // The log's state now, so that `verify-report --audit-log` can tell a log cut later. This
        // command's own event is appended after the report is written, so it is not counted.
        if let log = ProcessInfo.processInfo.environment["IVPACK_AUDIT_LOG"], !log.isEmpty {
            iq.audit =
                access(log, F_OK) == 0
                ? try? IQReportAudit.current(log: log) : IQReportAudit(log: log, events: 0, headSHA256: nil)
        }
        return iq
    }

    /// Writes `iq` to the files asked for: both written in full before either is renamed into place.
    func write(_ iq: IQReport) throws {
        guard wanted else { return }
        var outputs: [AtomicOutputFile] = []
        if let path = report { outputs.append(try writeOutput(path: path, bytes: iq.canonicalBytes)) }
        if let path = html { outputs.append(try writeOutput(path: path, bytes: Array(IQReportHTML.render(iq).utf8))) }
        for output in outputs { try output.commit() }
    }

    /// The lines that say where the report went.
    func printWritten() {
        if let report { print("IQ report: \(report)") }
        if let html { print("IQ report (HTML): \(html)") }
    }
}

/// `--accept-unchecked` needs a reason, and names a requirement kind or an environment check.
func validateAcceptance(_ requirements: [String], reason: String?) throws {
    guard !requirements.isEmpty else { return }
    if (reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
        throw ValidationError(
            "--accept-unchecked needs --reason TEXT: why the site accepts it unchecked, for the report")
    }
    for r in requirements {
        let kind = r.hasPrefix("environment.") ? String(r.dropFirst("environment.".count)) : r
        guard !kind.isEmpty, kind.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" })
        else {
            throw ValidationError(
                "--accept-unchecked \"\(r)\" is not a requirement kind (gpu, disk, ...) or environment check ID")
        }
    }
}
