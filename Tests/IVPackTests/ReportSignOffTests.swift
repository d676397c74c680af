import Foundation
import IVPack
import IVPackTestSupport
import Synchronization
import Testing

/// Sign-off by every party (issue 16): the installer, the hospital reviewer and the vendor issuer
/// each append a signed statement of their role, name, time and meaning to an IQ report; real PKIs
/// in temporary folders, real CMS, a real local RFC 3161 authority and the real binary.
@Suite(.serialized) struct ReportSignOffTests {
    /// A signed release, its development PKI and a verify-only IQ report of it in `out`.
    struct Fixture {
        let s: SignedRelease
        let out: TemporaryFolder
        let report: String

        init() throws {
            s = try SignedRelease()
            out = TemporaryFolder("ivpack-signoff")
            let verification = try s.verify()
            var iq = IQReport(
                verification: verification,
                context: .live(
                    for: verification, purpose: nil, siteID: "SITE-001", startTime: verification.time,
                    endTime: Timestamp.now()))
            iq.components = IQReportComponent.of(bundlePath: s.bundle, manifestDigest: s.built.manifestDigest)
            report = out.write("iq.json", iq.canonicalBytes)
        }

        /// The development policy with `reportRoles` set to `roles`.
        func policy(reportRoles roles: [String]) -> String {
            let text = String(decoding: FileManager.default.contents(atPath: s.pki.trustPolicy)!, as: UTF8.self)
                .replacingOccurrences(
                    of: "# reportRoles: [installer, hospital-reviewer, vendor-issuer]",
                    with: "reportRoles: [\(roles.joined(separator: ", "))]")
            let path = s.pki.directory + "/policy-report-\(roles.count).yaml"
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            return path
        }

        /// `sign-report` as `role` with the development identity of that role.
        func sign(_ role: String, _ extra: [String] = [], environment: [String: String] = [:]) -> ProcessResult {
            let identity: DevelopmentPKILayout.Identity
            switch role {
            case "hospital-reviewer": identity = s.pki.hospitalReviewer
            case "vendor-issuer": identity = s.pki.vendorIssuer
            default: identity = s.pki.installer
            }
            return ivpack(
                [
                    "sign-report", report, "--role", role, "--key", identity.key, "--cert", identity.certificate,
                    "--chain", s.pki.intermediateCertificate,
                ] + extra, environment: environment)
        }

        /// The library's verification of the report and its sign-offs under `policyPath`.
        func verify(policyPath: String? = nil, auditLog: String? = nil) throws -> SignedReportVerification {
            ReportSignOffs.verify(
                reportPath: report, reportBytes: out.read("iq.json"),
                signOffs: try ReportSignOffs.discover(reportPath: report), legacy: nil,
                policy: try TrustPolicy.load(path: policyPath ?? s.pki.trustPolicy), now: Timestamp.now(),
                auditLog: auditLog)
        }
    }

    @Test(.clause("IQ 4.1.2 h", "IQ 4.2.1", "IQ 4.2.2", "IQ A.2", "IQ C.1"))
    func installerReviewerAndIssuerSignInTurnAndVerifyReportShowsAllThree() throws {
        let f = try Fixture()
        let note = f.out.write(
            "note.txt", "问题：CT 服务器磁盘余量不足。\r\n纠正措施：扩容至 2 TB，已复核。\nProblem: low disk; corrective action: extended.\n")
        let first = f.sign("installer")
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        let firstBytes = f.out.read("iq.json.001-installer.p7s")
        let second = f.sign("hospital-reviewer", ["--name", "Dr. Li Wei", "--position", "Head of Radiology"])
        #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
        let third = f.sign("vendor-issuer", ["--name", "张伟", "--position", "质量经理", "--note-file", note])
        #expect(third.status == 0, "\(third.stdout)\(third.stderr)")
        #expect(third.stdout.contains("issued  \(String(Timestamp.iso8601(Timestamp.now()).prefix(10))) by 张伟"))
        // Appending never rewrites an earlier sign-off.
        #expect(f.out.read("iq.json.001-installer.p7s") == firstBytes)
        for name in ["iq.json.001-installer.p7s", "iq.json.002-hospital-reviewer.p7s", "iq.json.003-vendor-issuer.p7s"]
        {
            #expect(f.out.exists(name), "\(name)")
        }

        let policy = f.policy(reportRoles: ["installer", "hospital-reviewer", "vendor-issuer"])
        let r = ivpack(["verify-report", f.report, "--trust", policy])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        for expected in [
            "ok   001 installer, performed: Installer 1 (DEVELOPMENT)",
            "ok   002 hospital-reviewer, reviewed: Dr. Li Wei, Head of Radiology",
            "ok   003 vendor-issuer, approved: 张伟, 质量经理", "signer CN=Vendor Issuer (DEVELOPMENT)",
            "(signer's clock)", "PASS  report.roles", "Result: PASS (signed by CN=Installer 1",
        ] {
            #expect(r.stdout.contains(expected), "missing \(expected) in\n\(r.stdout)")
        }

        let json = ivpack(["verify-report", f.report, "--trust", policy, "--json"])
        let outcome = try JSONParser.parse(Array(json.stdout.utf8))
        let signOffs = try #require(outcome["signOffs"]?.arrayValue)
        #expect(signOffs.map { $0["meaning"]?.stringValue } == ["performed", "reviewed", "approved"])
        #expect(signOffs.map { $0["printedName"]?.stringValue } == ["Installer 1 (DEVELOPMENT)", "Dr. Li Wei", "张伟"])
        #expect(signOffs[2]["issueDate"]?.stringValue?.count == 10 && signOffs[0]["issueDate"] == .null)
        // The note (annex C problems and corrective actions) is inside what was signed: the
        // statement OpenSSL prints from the signature, CR LF made LF.
        let printed = run(
            "/usr/bin/openssl",
            [
                "cms", "-verify", "-binary", "-inform", "DER", "-in", f.out.url("iq.json.003-vendor-issuer.p7s"),
                "-CAfile", f.s.pki.rootCertificate, "-certfile", f.s.pki.intermediateCertificate, "-purpose", "any",
            ])
        #expect(printed.status == 0, "\(printed.stderr)")
        let statement = try JSONParser.parse(Array(printed.stdout.utf8))
        #expect(statement["format"]?.stringValue == SignOffStatement.format)
        #expect(statement["note"]?.stringValue?.contains("纠正措施：扩容至 2 TB，已复核。\nProblem") == true)
        #expect(statement["issue"]?["issuer"]?.stringValue == "张伟")
        #expect(statement["report"]?["sha256"]?.stringValue == SHA256Digest.of(f.out.read("iq.json")).hex)
        #expect(
            statement["previousSHA256"]?.stringValue
                == SHA256Digest.of(f.out.read("iq.json.002-hospital-reviewer.p7s")).hex)
        let schema = run(
            "/usr/bin/env",
            [
                "python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py", "--iq-signoff",
                f.out.url("iq.json.003-vendor-issuer.p7s"),
            ], in: SchemaTests.repositoryRoot)
        #expect(schema.status == 0, "\(schema.stdout)\(schema.stderr)")

        // The same certificate does not sign the same role twice.
        let again = f.sign("installer")
        #expect(again.status == 1, "\(again.stdout)\(again.stderr)")
        #expect(again.stderr.contains("has signed this report as installer already"), "\(again.stderr)")
    }

    @Test func aSecondSignerWaitsForTheFirstAndNeverTakesItsNumber() throws {
        let f = try Fixture()
        // The installer stops after choosing number 001, holding the report's lock.
        let first = Process()
        first.executableURL = URL(fileURLWithPath: ivpackExecutable)
        first.arguments = [
            "sign-report", f.report, "--role", "installer", "--key", f.s.pki.installer.key, "--cert",
            f.s.pki.installer.certificate,
        ]
        first.environment = [Failpoint.variable: "sign-report.before-link", "PATH": "/usr/bin:/bin"]
        let err = Pipe()
        first.standardError = err
        try first.run()
        #expect(String(decoding: err.fileHandleForReading.availableData, as: UTF8.self).contains("failpoint reached"))
        // The reviewer signs meanwhile: it waits for the lock instead of writing 001 beside the installer's.
        let done = DispatchSemaphore(value: 0)
        let second = Mutex<ProcessResult?>(nil)
        DispatchQueue.global().async {
            let r = f.sign("hospital-reviewer")
            second.withLock { $0 = r }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 1.5) == .timedOut, "the second signer did not wait")
        #expect(try ReportSignOffs.discover(reportPath: f.report).isEmpty)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(second.withLock { $0?.status } == 0, "\(second.withLock { $0?.stderr ?? "" })")
        // The killed installer left nothing; the reviewer's is 001, and the installer signs again as 002.
        #expect(
            try ReportSignOffs.discover(reportPath: f.report).map(\.path) == [f.report + ".001-hospital-reviewer.p7s"])
        #expect(f.sign("installer").status == 0)
        #expect(try ReportSignOffs.discover(reportPath: f.report).map(\.sequence) == [1, 2])
        #expect(try f.verify().passed)
    }

    @Test(.clause("IQ A.2")) func aMissingRequiredRoleFailsVerifyReport() throws {
        let f = try Fixture()
        #expect(f.sign("installer").status == 0)
        #expect(f.sign("hospital-reviewer").status == 0)
        let r = ivpack([
            "verify-report", f.report, "--trust",
            f.policy(reportRoles: ["installer", "hospital-reviewer", "vendor-issuer"]),
        ])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("FAIL  report.roles"), "\(r.stdout)")
        #expect(r.stdout.contains("required role \"vendor-issuer\" has no valid sign-off"), "\(r.stdout)")
        #expect(r.stdout.contains("Result: FAIL (report.roles failed)"), "\(r.stdout)")
        // A certificate that proves another role does not stand in for the missing one.
        let impostor = ivpack([
            "sign-report", f.report, "--role", "vendor-issuer", "--key", f.s.pki.hospitalReviewer.key, "--cert",
            f.s.pki.hospitalReviewer.certificate,
        ])
        #expect(impostor.status == 0, "\(impostor.stderr)")
        let outcome = try f.verify(policyPath: f.policy(reportRoles: ["vendor-issuer"]))
        #expect(!outcome.passed)
        let check = try #require(outcome.checks.first { $0.id == .signOff(3) })
        #expect(check.status == .fail)
        #expect(
            check.details.first?.contains("claims role \"vendor-issuer\" but the certificate does not prove it") == true
        )
    }

    @Test func aFlippedByteInTheReportOrInAnySignOffFailsAndNamesWhich() throws {
        let f = try Fixture()
        for role in ["installer", "hospital-reviewer", "vendor-issuer"] { #expect(f.sign(role).status == 0) }
        #expect(try f.verify().passed)
        let original = f.out.read("iq.json")

        // The report: every sign-off says it signed other bytes.
        var bytes = original
        let at = try #require(bytes.firstRange(of: Array("PulmoScan AI".utf8))).lowerBound + 8
        bytes[at] ^= 0x01
        _ = f.out.write("iq.json", bytes)
        let changed = try f.verify()
        #expect(!changed.passed)
        for n in 1...3 {
            let check = try #require(changed.checks.first { $0.id == .signOff(n) })
            #expect(check.details.first?.contains("the report was changed after it was signed") == true, "\(check)")
        }
        _ = f.out.write("iq.json", original)

        // One byte inside the second sign-off's signed statement: that sign-off fails, and the
        // third, which was signed after it, says so.
        let name = "iq.json.002-hospital-reviewer.p7s"
        let signed = f.out.read(name)
        var edited = signed
        let inName = try #require(edited.firstRange(of: Array("Hospital Reviewer".utf8))).lowerBound
        edited[inName] ^= 0x20
        _ = f.out.write(name, edited)
        let tampered = try f.verify()
        #expect(tampered.checks.first { $0.id == .signOff(1) }?.status == .pass)
        let second = try #require(tampered.checks.first { $0.id == .signOff(2) })
        #expect(
            second.status == .fail && second.details.first?.contains("does not match its statement") == true,
            "\(second)")
        let third = try #require(tampered.checks.first { $0.id == .signOff(3) })
        #expect(
            third.details.first?.contains("the sign-off before it (002) is not the one it was signed after") == true)

        // A byte of the signature value itself (the last bytes of the DER): the same sign-off fails.
        var tail = signed
        tail[tail.count - 5] ^= 0xFF
        _ = f.out.write(name, tail)
        #expect(try f.verify().checks.first { $0.id == .signOff(2) }?.status == .fail)

        // A removed sign-off before others is named too.
        try FileManager.default.removeItem(atPath: f.out.url(name))
        let removed = try f.verify()
        #expect(
            removed.checks.first { $0.id == .signOff(3) }?.details.first?.contains("a sign-off before it is missing")
                == true)
    }

    @Test func anExpiredSignerVerifiesWithATimeStampAndFailsClearlyWithout() throws {
        let f = try Fixture()
        let now = f.s.now
        let short = try DevelopmentPKI.issueSigner(
            role: "installer", policyOID: WellKnownOID.roleInstaller, in: f.s.pki, name: "installer-short",
            notBefore: now - 3000, notAfter: now - 1000, extendedKeyUsage: [WellKnownOID.clientAuth])
        let identity = try SigningIdentity.load(
            key: .file(path: short.key, passphrase: nil), certificateFile: short.certificate,
            chainFiles: [short.chain])
        let tsa = try f.s.timestampAuthority(at: now - 2000)
        let stamped = try ReportSignOffs.sign(
            reportPath: f.report, reportBytes: f.out.read("iq.json"),
            request: SignOffRequest(role: .installer, now: now - 2000, timestampAuthority: tsa.url),
            identity: identity)
        #expect(stamped.timestamp == now - 2000)
        #expect(tsa.server.requestCount == 1)
        let passed = try f.verify()
        #expect(passed.passed, "\(passed.checks)")
        #expect(passed.signOffs.first?.time?.source == "time-stamp")
        #expect(passed.signOffs.first?.time?.seconds == now - 2000)

        // The same certificate without a time-stamp: judged now, expired, and the message says what to do.
        let g = try Fixture()
        let shortG = try DevelopmentPKI.issueSigner(
            role: "installer", policyOID: WellKnownOID.roleInstaller, in: g.s.pki, name: "installer-short",
            notBefore: now - 3000, notAfter: now - 1000, extendedKeyUsage: [WellKnownOID.clientAuth])
        _ = try ReportSignOffs.sign(
            reportPath: g.report, reportBytes: g.out.read("iq.json"),
            request: SignOffRequest(role: .installer, now: now - 2000),
            identity: try SigningIdentity.load(
                key: .file(path: shortG.key, passphrase: nil), certificateFile: shortG.certificate,
                chainFiles: [shortG.chain]))
        let r = ivpack(["verify-report", g.report, "--trust", g.s.pki.trustPolicy])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(r.stdout.contains("FAIL  signoff.001"), "\(r.stdout)")
        #expect(r.stdout.contains("carries no RFC 3161 time-stamp, so it is judged now"), "\(r.stdout)")
        #expect(r.stdout.contains("sign-report --tsa URL"))
    }

    @Test func noteFileIsSignedAndBadNotesAreRefused() throws {
        let f = try Fixture()
        let invalid = f.out.write("bad.txt", [0x50, 0xFF, 0xFE, 0x0A])
        let refused = f.sign("installer", ["--note-file", invalid])
        #expect(refused.status == 2 && refused.stderr.contains("not valid UTF-8"), "\(refused.stderr)")
        let big = f.out.write("big.txt", String(repeating: "x", count: SignOffStatement.maxNoteBytes + 1))
        let tooBig = f.sign("installer", ["--note-file", big])
        #expect(tooBig.status == 2, "\(tooBig.stderr)")
        let control = f.out.write("control.txt", "ok\u{1B}[31m red\n")
        #expect(f.sign("installer", ["--note-file", control]).status == 2)
        #expect(try ReportSignOffs.discover(reportPath: f.report).isEmpty, "nothing is written for a refused note")

        let note = f.out.write("note.txt", "Disk check repeated after cleanup; passed.\n")
        #expect(f.sign("installer", ["--note-file", note, "--meaning", "reviewed"]).status == 0)
        let outcome = try f.verify()
        #expect(outcome.passed)
        #expect(outcome.signOffs.first?.statement?.note == "Disk check repeated after cleanup; passed.\n")
        #expect(outcome.signOffs.first?.statement?.meaning == .reviewed)
        #expect(outcome.checks.first?.evidence.contains { $0.key == "note" } == true)
    }

    @Test(.clause("IQ 6.5.1")) func aCutAuditLogIsCaught() throws {
        let f = try Fixture()
        let log = f.out.url("audit.jsonl")
        let env = ["IVPACK_AUDIT_LOG": log]
        // A few events before the IQ.
        #expect(ivpack(["audit", "verify", f.out.url("none.jsonl")], environment: env).status != 0)
        #expect(ivpack(["inspect", f.s.bundle], environment: env).status == 0)
        let verify = ivpack(
            ["verify", f.s.bundle, "--trust", f.s.pki.trustPolicy, "--report", f.out.url("audited.json")],
            environment: env)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let report = try JSONParser.parse(f.out.read("audited.json"))
        #expect(report["audit"]?["events"]?.int64Value == 2, "\(report["audit"].map { PrettyJSON.render($0) } ?? "")")
        #expect(report["audit"]?["log"]?.stringValue == log)
        // verify --report lists the components of the verified manifest with their files' digests.
        let components = try #require(report["components"]?.arrayValue)
        #expect(components.count == f.s.built.manifest.components.count)
        let firstFile = try #require(f.s.built.manifest.components.first?.files.first)
        #expect(components.first?["files"]?.arrayValue?.first?["sha256"]?.stringValue == firstFile.sha256.hex)
        let schema = run(
            "/usr/bin/env",
            [
                "python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py", "--iq-report",
                f.out.url("audited.json"),
            ],
            in: SchemaTests.repositoryRoot)
        #expect(schema.status == 0, "\(schema.stdout)\(schema.stderr)")
        let audited = f.out.url("audited.json")
        let signed = ivpack(
            [
                "sign-report", audited, "--role", "installer", "--key", f.s.pki.installer.key, "--cert",
                f.s.pki.installer.certificate,
            ], environment: env)
        #expect(signed.status == 0, "\(signed.stderr)")
        let good = ivpack(["verify-report", audited, "--trust", f.s.pki.trustPolicy, "--audit-log", log])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("PASS  audit"), "\(good.stdout)")

        // Cut the log back to one event: fewer than the report recorded.
        let lines = String(decoding: f.out.read("audit.jsonl"), as: UTF8.self).split(separator: "\n")
        #expect(lines.count >= 3)
        let cut = f.out.write("cut.jsonl", lines[0] + "\n")
        let caught = ivpack(["verify-report", audited, "--trust", f.s.pki.trustPolicy, "--audit-log", cut])
        #expect(caught.status == 1, "\(caught.stdout)")
        #expect(caught.stdout.contains("events were removed (the log was cut)"), "\(caught.stdout)")
        // Another log with as many events: event 2 does not hash to the recorded head.
        let other = f.out.url("other.jsonl")
        for _ in 0..<3 { _ = ivpack(["inspect", f.s.bundle], environment: ["IVPACK_AUDIT_LOG": other]) }
        let replaced = ivpack(["verify-report", audited, "--trust", f.s.pki.trustPolicy, "--audit-log", other])
        #expect(replaced.status == 1)
        #expect(replaced.stdout.contains("the log was replaced or rewritten"), "\(replaced.stdout)")
    }

    @Test func anOldSingleSignatureStillVerifiesAndSaysWhatToDo() throws {
        let f = try Fixture()
        let legacy = try IQReportSignature.sign(
            reportBytes: f.out.read("iq.json"), reportPath: f.report,
            identity: try SigningIdentity.load(
                key: .file(path: f.s.pki.installer.key, passphrase: nil),
                certificateFile: f.s.pki.installer.certificate,
                chainFiles: [f.s.pki.intermediateCertificate]))
        _ = f.out.write("iq.json.p7s", legacy.der)
        let r = ivpack(["verify-report", f.report, "--trust", f.s.pki.trustPolicy])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("legacy \(f.report).p7s: no role, name or meaning signed"), "\(r.stdout)")
        #expect(r.stdout.contains("migration: signed before sign-offs"))
        #expect(r.stdout.contains("Result: PASS (signed by CN=Installer 1"), "\(r.stdout)")
        // Under a policy that requires roles, the old signature proves none, and the output says how to add them.
        let strict = ivpack(["verify-report", f.report, "--trust", f.policy(reportRoles: ["installer"])])
        #expect(strict.status == 1)
        #expect(strict.stdout.contains("`ivpack sign-report REPORT --role installer`"), "\(strict.stdout)")
        // Sign-offs are added beside it and both are shown.
        #expect(f.sign("installer").status == 0)
        let both = ivpack(["verify-report", f.report, "--trust", f.policy(reportRoles: ["installer"])])
        #expect(both.status == 0, "\(both.stdout)")
        #expect(both.stdout.contains("ok   001 installer") && both.stdout.contains("legacy"))
        // No signature at all is bad input.
        let bare = f.out.write("bare.json", f.out.read("iq.json"))
        let none = ivpack(["verify-report", bare, "--trust", f.s.pki.trustPolicy])
        #expect(none.status == 2 && none.stderr.contains("carries no signature"), "\(none.stderr)")
    }

    @Test func reportRolesIsParsedStrictly() throws {
        let f = try Fixture()
        let base = String(decoding: FileManager.default.contents(atPath: f.s.pki.trustPolicy)!, as: UTF8.self)
        for (value, message) in [
            ("[installer, qa]", "\"qa\" is not a report role"), ("[installer, installer]", "listed twice"),
            ("[]", "reportRoles"), ("installer", "reportRoles"),
        ] {
            let text = base.replacingOccurrences(
                of: "# reportRoles: [installer, hospital-reviewer, vendor-issuer]", with: "reportRoles: \(value)")
            let error = #expect(throws: InputError.self) {
                try TrustPolicy.parse(bytes: Array(text.utf8), file: "p.yaml", folder: f.s.pki.directory)
            }
            #expect(error?.description.contains(message) == true, "\(value): \(error?.description ?? "")")
        }
        let good = try TrustPolicy.load(path: f.policy(reportRoles: ["installer", "vendor-issuer"]))
        #expect(good.reportRoles == ["installer", "vendor-issuer"])
        #expect(good.reportRoleRule(.vendorIssuer).certificatePolicy == WellKnownOID.roleVendorIssuer)
    }

    @Test func verifyReportWritesTheHTMLWithTheVerifiedSignOffsAndAFooterOnEveryPage() throws {
        let f = try Fixture()
        #expect(f.sign("installer").status == 0)
        #expect(f.sign("hospital-reviewer", ["--name", "Dr. Li Wei"]).status == 0)
        #expect(f.sign("vendor-issuer", ["--name", "Zhang Wei", "--position", "Quality Manager"]).status == 0)
        let html = f.out.url("signed.html")
        let r = ivpack(["verify-report", f.report, "--trust", f.s.pki.trustPolicy, "--html", html])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let page = String(decoding: f.out.read("signed.html"), as: UTF8.self)
        #expect(page.contains("Dr. Li Wei") && page.contains("审核 reviewed") && page.contains("批准签发 approved"))
        let reportID = try #require(try JSONParser.parse(f.out.read("iq.json"))["reportID"]?.stringValue)
        let text = try #require(IQReportTests().printedText(of: html, in: f.out))
        let flat = IQReportTests().squeezed(text)
        let firstFile = try #require(f.s.built.manifest.components.first?.files.first)
        for expected in [
            "ZhangWei", "QualityManager", "CN=VendorIssuer", "执行performed", "签发/Signatures", "组件Components",
            firstFile.sha256.hex,
        ] {
            #expect(flat.contains(expected), "missing \(expected)")
        }
        // The report ID and "Page N of M" on every printed page.
        let pages = text.components(separatedBy: "\u{0C}").filter {
            !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        }
        #expect(pages.count >= 2)
        for (i, p) in pages.enumerated() {
            #expect(p.contains(reportID), "page \(i + 1) lacks the report ID")
            #expect(
                IQReportTests().squeezed(p).contains("Page\(i + 1)of\(pages.count)"), "page \(i + 1): \(p.suffix(300))")
        }
    }

    @Test(.clause("IQ 4.1.2 g")) func aFailedCheckCarriesAPlainLanguageAction() throws {
        #expect(VerifyCheckCatalog.action(for: .payload)?.contains("do not install; obtain a new copy") == true)
        #expect(VerifyCheckCatalog.action(for: .signature(2)) != nil)
        #expect(VerifyCheckCatalog.action(for: .environment("cpu")) != nil)
        for descriptor in VerifyCheckCatalog.all {
            #expect(VerifyCheckCatalog.action(for: descriptor.id) != nil, "\(descriptor.id) has no action")
        }
        let s = try SignedRelease(signedBy: ["release-manager"])
        let verification = try s.verify()
        let iq = IQReport(
            verification: verification,
            context: .live(
                for: verification, purpose: nil, siteID: nil, startTime: verification.time, endTime: Timestamp.now()))
        let html = IQReportHTML.render(iq)
        #expect(html.contains("处置 Action: 缺少必需的发布批准签名"))
    }
}
