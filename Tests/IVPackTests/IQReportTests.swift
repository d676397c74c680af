import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// The installation-qualification report (clause 3.5, annex C): built from a real verification,
/// valid against its schema, rendered to HTML that a real browser prints, safe against a hostile
/// bundle, and signed and checked by `sign-report` / `verify-report`.
@Suite(.serialized) struct IQReportTests {
    /// The IQ report of `report` in this process's context.
    func iqReport(_ report: VerifyReport, purpose: String? = nil, site: String? = nil) -> IQReport {
        IQReport(
            verification: report,
            context: .live(
                for: report, purpose: purpose, siteID: site, startTime: report.time, endTime: Timestamp.now()))
    }

    /// Runs scripts/check-schemas.py on IQ reports.
    func checkSchemas(_ reports: [String]) -> ProcessResult {
        run(
            "/usr/bin/env",
            ["python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py"]
                + reports.flatMap { ["--iq-report", $0] },
            in: SchemaTests.repositoryRoot)
    }

    /// Prints `html` to PDF with headless Chromium and returns the PDF's text (pdftotext). Records
    /// an issue, failing the test, when Chromium or pdftotext is missing or fails.
    func printedText(of html: String, in folder: TemporaryFolder) -> String? {
        guard
            let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else {
            Issue.record(
                "chromium is not installed: run scripts/install-deps.sh (Debian packages chromium, poppler-utils, fonts-wqy-microhei)"
            )
            return nil
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/pdftotext") else {
            Issue.record("pdftotext is not installed: run scripts/install-deps.sh (Debian package poppler-utils)")
            return nil
        }
        let pdf = folder.url("printed-\(UUID().uuidString).pdf")
        let r = run(
            "/usr/bin/timeout",
            [
                "120", chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                "--user-data-dir=\(folder.url("chromium-profile"))", "--print-to-pdf=\(pdf)", "file://\(html)",
            ],
            environment: ["HOME": folder.path])
        guard r.status == 0, FileManager.default.fileExists(atPath: pdf) else {
            Issue.record("chromium could not print \(html) (status \(r.status)): \(r.stderr.suffix(2000))")
            return nil
        }
        let text = run("/usr/bin/pdftotext", ["-enc", "UTF-8", pdf, "-"])
        guard text.status == 0 else {
            Issue.record("pdftotext failed on \(pdf): \(text.stderr)")
            return nil
        }
        return text.stdout
    }

    func value(_ bytes: [UInt8]) throws -> JSONValue { try JSONParser.parse(bytes) }

    /// Text without any whitespace, so that a line wrapped by the printer still matches.
    func squeezed(_ s: String) -> String {
        String(s.unicodeScalars.filter { !CharacterSet.whitespacesAndNewlines.contains($0) }.map(Character.init))
    }

    @Test(.clause("IQ 3.5", "IQ 4.1.2 g", "IQ 6.2.1", "IQ C.1"))
    func reportsOfARealPassingAndFailingVerificationValidateAgainstTheSchema() throws {
        let s = try SignedRelease()
        let passed = iqReport(try s.verify(), purpose: "IQ of the CT reading room server", site: "SITE-001")
        // No check failed, but a verify-only report is never a pass: installation and
        // qualification did not run, and the conclusion says so.
        #expect(passed.conclusion == .incomplete)
        #expect(
            passed.conclusionStatement.hasPrefix(
                "INCOMPLETE: PulmoScan AI V2.3.1.1024 was verified at site SITE-001 (all "),
            "\(passed.conclusionStatement)")
        #expect(passed.conclusionStatement.contains("but not installed and not qualified"))
        let size = try InputFile(path: s.bundle).size
        #expect(
            passed.object
                == IQReport.Object(
                    product: "PulmoScan AI", version: "V2.3.1.1024", vendor: "Example Medical AI Co.",
                    manifestSHA256: s.built.manifestDigest.hex, bundleFile: "b.ivp", bundleBytes: size))
        #expect(
            passed.reportID.hasPrefix("IQ-")
                && passed.reportID.hasSuffix("-" + String(s.built.manifestDigest.hex.prefix(8))))
        #expect(passed.purpose == "IQ of the CT reading room server")
        #expect(passed.people.installerSource == .osUser && passed.people.installer == passed.people.operatorUser)
        // The development policy's warning is a problem found, titled for what it means.
        #expect(passed.problems.map(\.check) == [CheckID.trustDevelopment.rawValue])
        #expect(passed.problems.first?.title == "Trust policy trusts a DEVELOPMENT PKI: not for clinical use")
        #expect(passed.environmentCheckIDs.contains(.environment("cpu")))

        let failed = iqReport(try s.verify(policy: try s.policy(minimumVersions: "\"PulmoScan AI\": V2.4.0.0")))
        #expect(failed.conclusion == .fail)
        #expect(failed.purpose == "Installation qualification of PulmoScan AI V2.3.1.1024")
        #expect(
            failed.problems.contains {
                $0.check == CheckID.versionMinimum.rawValue && $0.status == .fail
                    && $0.details.first?.contains("downgrade") == true
            })
        #expect(
            failed.conclusionStatement.hasPrefix("FAIL:")
                && failed.conclusionStatement.contains(CheckID.versionMinimum.rawValue))

        // Installed, but not qualified: still incomplete. Installed and qualified: the only pass.
        var installedChecks = try s.verify()
        installedChecks.checks.append(Check(.installSwitch, status: .pass))
        let installed = iqReport(installedChecks, site: "SITE-001")
        #expect(installed.conclusion == .incomplete)
        #expect(installed.conclusionStatement.contains("was verified and installed at site SITE-001"))
        #expect(installed.conclusionStatement.contains("but not qualified:"), "\(installed.conclusionStatement)")
        var qualifiedChecks = installedChecks
        qualifiedChecks.checks.append(
            Check(CheckID(rawValue: "qualification.function"), title: "Function checks", status: .pass))
        let qualified = iqReport(qualifiedChecks, site: "SITE-001")
        #expect(qualified.conclusion == .pass)
        #expect(
            qualified.conclusionStatement.hasPrefix(
                "PASS: PulmoScan AI V2.3.1.1024 passed installation qualification at site SITE-001: verified, installed and qualified"
            ))

        let out = TemporaryFolder()
        let files = [
            out.write("pass.json", passed.canonicalBytes), out.write("fail.json", failed.canonicalBytes),
            out.write("installed.json", installed.canonicalBytes),
            out.write("qualified.json", qualified.canonicalBytes),
        ]
        let r = checkSchemas(files)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("ok   IQ report \(files[0])") && r.stdout.contains("conclusion fail"), "\(r.stdout)")
        for report in [passed, failed, installed, qualified] {
            #expect(
                IQReportRules.problems(report.canonicalBytes).isEmpty,
                "\(IQReportRules.problems(report.canonicalBytes))")
        }
        // A verify-only report edited to claim a pass breaks the schema and the rules too.
        let claimed = Array(
            String(decoding: passed.canonicalBytes, as: UTF8.self)
                .replacingOccurrences(of: "\"result\":\"incomplete\"", with: "\"result\":\"pass\"")
                .replacingOccurrences(of: "INCOMPLETE:", with: "PASS:").utf8)
        #expect(checkSchemas([out.write("claimed.json", claimed)]).status == 1)
        #expect(
            IQReportRules.problems(claimed).contains {
                $0.contains("installation, qualification did not run: it must be \"incomplete\"")
            }, "\(IQReportRules.problems(claimed))")

        // A report edited to claim a pass it did not have breaks the schema and the rules.
        let edited = Array(
            String(decoding: failed.canonicalBytes, as: UTF8.self)
                .replacingOccurrences(of: "\"result\":\"fail\"", with: "\"result\":\"pass\"").utf8)
        let bad = checkSchemas([out.write("edited.json", edited)])
        #expect(bad.status == 1, "\(bad.stdout)\(bad.stderr)")
        #expect(IQReportRules.problems(edited).contains { $0.hasPrefix("/conclusion/result is \"pass\"") })
    }

    @Test(.clause("IQ C.1")) func installerIdentityComesFromTheLicenceCheck() async throws {
        let s = try SignedRelease()
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder)
        try await server.issue()
        try await server.register(s)
        var report = try s.verify()
        report.checks.append(
            await LicenseCheck.online(
                options: server.clientOptions(pki: s.pki), policy: try s.policy(), product: "PulmoScan AI",
                version: s.release.version, manifestSHA256: s.built.manifestDigest))
        await server.stop()
        let iq = iqReport(report, site: "SITE-001")
        #expect(iq.conclusion == .incomplete, "\(iq.problems)")
        #expect(iq.people.installerSource == .licenseClientCertificate)
        #expect(iq.people.installer.contains("CN=Installer 1"), "\(iq.people.installer)")
        #expect(
            iq.people.installerCertificateSHA256
                == (try Certificate.load(file: s.pki.installer.certificate)[0].fingerprint.hex))
        #expect(iq.people.operatorUser != iq.people.installer)
        let file = s.folder.write("iq-licensed.json", iq.canonicalBytes)
        let r = checkSchemas([file])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("(license-client-certificate)"), "\(r.stdout)")
    }

    @Test(.clause("IQ 4.1.2 h", "IQ C.1")) func verifyWritesReportsThatChromiumPrintsWithTheConclusionAndVersion()
        throws
    {
        let s = try SignedRelease()
        let out = TemporaryFolder("ivpack-iq")
        let r = ivpack([
            "verify", s.bundle, "--trust", s.pki.trustPolicy, "--site", "SITE-001", "--purpose",
            "Annual re-qualification",
            "--report", out.url("iq.json"), "--html", out.url("iq.html"),
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("IQ report: \(out.url("iq.json"))"))
        let report = try value(out.read("iq.json"))
        #expect(IQReportRules.problems(out.read("iq.json")).isEmpty)
        #expect(report["place"]?["siteID"]?.stringValue == "SITE-001")
        #expect(report["purpose"]?.stringValue == "Annual re-qualification")
        #expect(report["conclusion"]?["result"]?.stringValue == "incomplete")

        let html = String(decoding: out.read("iq.html"), as: UTF8.self)
        for forbidden in ["<script", "<link", "<img", "http://", "https://", "@import", "url("] {
            #expect(!html.lowercased().contains(forbidden), "the HTML must be self-contained; found \(forbidden)")
        }
        let text = try #require(printedText(of: out.url("iq.html"), in: out))
        let flat = squeezed(text)
        #expect(flat.contains("PulmoScanAIV2.3.1.1024"), "\(text.prefix(600))")
        #expect(flat.contains("结论Conclusion:未完成INCOMPLETE"), "\(text.prefix(600))")
        #expect(
            flat.contains(squeezed("INCOMPLETE: PulmoScan AI V2.3.1.1024 was verified at site SITE-001")),
            "\(text.prefix(800))")
        #expect(flat.contains("DEVELOPMENT—NOTFORCLINICALUSE"), "\(text.prefix(800))")
        for heading in [
            "报告信息/Reportinformation", "评估对象/Object", "评估目的/Purpose", "评估时间与地点/Timeandplace", "评估人员/People",
            "安装环境/Environment", "检查项目与结果/Checks", "发现的问题/Problemsfound", "评估结论/Conclusion", "签发/Signatures",
        ] {
            #expect(flat.contains(heading), "heading \(heading) missing from the printed report")
        }
    }

    @Test(.clause("IQ 3.5", "IQ 4.1.2 g")) func verifyWritesTheReportOfAFailedIQAndKeepsItsExitStatus() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let out = TemporaryFolder("ivpack-iq")
        let r = ivpack([
            "verify", s.bundle, "--trust", s.pki.trustPolicy, "--json", "--report", out.url("iq.json"), "--html",
            out.url("iq.html"),
        ])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        // --json keeps standard output to the verify report alone.
        #expect(try JSONParser.parse(Array(r.stdout.utf8))["format"]?.stringValue == "ivpack-verify-report/1")
        let report = try value(out.read("iq.json"))
        #expect(report["conclusion"]?["result"]?.stringValue == "fail")
        #expect(report["problems"]?.arrayValue?.contains { $0["check"]?.stringValue == CheckID.roles.rawValue } == true)
        let html = String(decoding: out.read("iq.html"), as: UTF8.self)
        #expect(html.contains("不通过 FAIL") && html.contains("required role &quot;quality&quot; has no valid signature"))
        #expect(try !FileManager.default.contentsOfDirectory(atPath: out.path).contains { $0.contains(".tmp-") })
    }

    @Test func hostileProductNameAndEvidenceAreEscapedInTheHTML() throws {
        // A real bundle whose manifest names the product with markup.
        let hostile = "<script>alert('iq')</script><img src=x onerror=alert(2)>PulmoScan"
        let release = ReleaseFixture()
        release.folder.write(
            "ivpack.yaml",
            ReleaseFixture.spec(version: release.version)
                .replacingOccurrences(of: "name: PulmoScan AI", with: "name: \"\(hostile)\"")
                .replacingOccurrences(of: "vendor: Example Medical AI Co.", with: "vendor: \"Evil & Co. <b>bold</b>\""))
        git(["commit", "-q", "-am", "Hostile name"], in: release.root)
        git(["tag", "-f", "-a", release.version, "-m", "Release \(release.version)"], in: release.root)
        let out = TemporaryFolder("ivpack-iq")
        _ = try release.build(to: out.url("hostile.ivp"))
        let pki = try DevelopmentPKI.create(in: out.url("pki"), now: Timestamp.now() - 3600)
        var report = try BundleVerifier.verify(
            bundlePath: out.url("hostile.ivp"), policy: try TrustPolicy.load(path: pki.trustPolicy),
            now: Timestamp.now())
        #expect(report.product == hostile)
        // And findings carrying markup, as a hostile bundle's entry names would.
        report.checks.append(
            Check(
                CheckID(rawValue: "entries-hostile"), title: "</td></tr></table><script>alert(3)</script>",
                status: .fail,
                details: ["entry \"<iframe src=javascript:alert(4)>\" is not in the manifest"],
                evidence: [("<svg onload=alert(5)>", "\"'><script>alert(6)</script>")]))
        let iq = iqReport(report, purpose: "<style>body{display:none}</style>")
        #expect(iq.object.vendor == "Evil & Co. <b>bold</b>")
        let html = IQReportHTML.render(iq)
        let lower = html.lowercased()
        for tag in ["<script", "<img", "<iframe", "<svg", "<b>"] {
            #expect(!lower.contains(tag), "unescaped \(tag) in the HTML")
        }
        #expect(lower.components(separatedBy: "<style>").count == 2, "only ivpack's own style element")
        #expect(
            html.contains("&lt;script&gt;alert(&#39;iq&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;PulmoScan")
        )
        #expect(html.contains("Evil &amp; Co. &lt;b&gt;bold&lt;/b&gt;"))
        let file = out.write("hostile.html", html)
        let text = try #require(printedText(of: file, in: out))
        // The browser shows the markup as text, and the conclusion after it is still printed.
        #expect(squeezed(text).contains(squeezed(hostile)), "\(text.prefix(800))")
        #expect(squeezed(text).contains("<script>alert(3)</script>"))
        #expect(squeezed(text).contains("不通过FAIL"))
    }

    @Test func signedReportVerifiesAndFailsWhenChangedOrSignedOutsideThePolicy() throws {
        let s = try SignedRelease()
        let out = TemporaryFolder("ivpack-iq")
        let report = out.write("iq.json", iqReport(try s.verify(), site: "SITE-001").canonicalBytes)
        let installerChain = s.pki.intermediateCertificate
        let sign = ivpack([
            "sign-report", report, "--role", "installer", "--key", s.pki.installer.key, "--cert",
            s.pki.installer.certificate, "--chain", installerChain,
        ])
        #expect(sign.status == 0, "\(sign.stdout)\(sign.stderr)")
        #expect(out.exists("iq.json.001-installer.p7s"))

        let good = ivpack(["verify-report", report, "--trust", s.pki.trustPolicy])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("Result: PASS (signed by CN=Installer 1"), "\(good.stdout)")
        #expect(good.stdout.contains("signedAt: "))
        #expect(good.stdout.contains("WARN  trust.development"))

        // One byte of the report flipped (the JSON stays valid and consistent): the sign-off no longer holds.
        var bytes = out.read("iq.json")
        let at = try #require(bytes.firstRange(of: Array("PulmoScan AI".utf8))).lowerBound + 8
        bytes[at] ^= 0x01
        #expect(IQReportRules.problems(bytes).isEmpty)
        let original = out.read("iq.json")
        _ = out.write("iq.json", bytes)
        let changed = ivpack(["verify-report", report, "--trust", s.pki.trustPolicy])
        #expect(changed.status == 1, "\(changed.stdout)\(changed.stderr)")
        #expect(
            changed.stdout.contains("FAIL  signoff.001") && changed.stdout.contains("the report was changed"),
            "\(changed.stdout)")
        #expect(changed.stdout.contains("PASS  report"))
        _ = out.write("iq.json", original)

        // Signed by the installer of another PKI: not trusted by this site's policy.
        let other = try DevelopmentPKI.create(in: out.url("other-pki"), now: Timestamp.now() - 3600)
        let foreign = ivpack([
            "sign-report", report, "--role", "hospital-reviewer", "--key", other.hospitalReviewer.key,
            "--cert", other.hospitalReviewer.certificate, "--chain", other.intermediateCertificate,
        ])
        #expect(foreign.status == 0, "\(foreign.stderr)")
        let untrusted = ivpack(["verify-report", report, "--trust", s.pki.trustPolicy])
        #expect(untrusted.status == 1, "\(untrusted.stdout)\(untrusted.stderr)")
        #expect(untrusted.stdout.contains("not trusted by the policy"), "\(untrusted.stdout)")
        #expect(untrusted.stdout.contains("Result: FAIL (signoff.002 failed)"), "\(untrusted.stdout)")
        try FileManager.default.removeItem(atPath: out.url("iq.json.002-hospital-reviewer.p7s"))

        // A certificate of this PKI that proves no report role (the licence server's TLS certificate).
        _ = ivpack([
            "sign-report", report, "--role", "vendor-issuer", "--key", s.pki.licenseServer.key,
            "--cert", s.pki.licenseServer.certificate, "--chain", s.pki.intermediateCertificate,
        ])
        let wrongKind = ivpack(["verify-report", report, "--trust", s.pki.trustPolicy, "--json"])
        #expect(wrongKind.status == 1, "\(wrongKind.stdout)\(wrongKind.stderr)")
        let outcome = try JSONParser.parse(Array(wrongKind.stdout.utf8))
        #expect(outcome["result"]?.stringValue == "fail")
        #expect(
            outcome["checks"]?.arrayValue?[1]["details"]?.arrayValue?.first?.stringValue?.contains(
                "claims role \"vendor-issuer\" but the certificate does not prove it") == true)

        // A report that breaks its rules is not signed (bad input), and no signature is left behind.
        let inconsistent = out.write(
            "inconsistent.json",
            Array(
                String(decoding: out.read("iq.json"), as: UTF8.self)
                    .replacingOccurrences(of: "\"warned\":1", with: "\"warned\":0").utf8))
        let refused = ivpack([
            "sign-report", inconsistent, "--role", "installer", "--key", s.pki.installer.key, "--cert",
            s.pki.installer.certificate,
        ])
        #expect(refused.status == 2, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("/summary/warned"), "\(refused.stderr)")
        #expect(try ReportSignOffs.discover(reportPath: inconsistent).isEmpty)

        // A missing legacy signature file named with --signature is bad input.
        let missing = ivpack([
            "verify-report", report, "--signature", out.url("none.p7s"), "--trust", s.pki.trustPolicy,
        ])
        #expect(missing.status == 2, "\(missing.stderr)")
    }

    @Test func escapeReplacesEveryMarkupCharacter() {
        #expect(
            IQReportHTML.escape("<a href=\"x\" title='y'>&amp;</a>\u{0}\u{1B}ok\n")
                == "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;\u{FFFD}\u{FFFD}ok\n")
    }
}
