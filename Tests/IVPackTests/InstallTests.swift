import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// Installation on the target (issue 15): verify-while-extract, the atomic switch of `current`,
/// the installed state, anti-downgrade, rollback, status and drift, crash safety at every
/// failpoint (real processes killed with SIGKILL), hostile bundles and bad roots.
@Suite struct InstallTests {
    static let v1 = ReleaseFixture.defaultVersion
    static let v2 = "V2.4.0.1101"

    /// `current`, the state and the tree agree: `current` names the state's active release, whose
    /// every file matches its manifest, and nothing is left in staging.
    static func expectConsistent(
        _ f: InstallFixture, active version: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let status = try Installer.status(root: f.root, check: true)
        #expect(status.notes.isEmpty, "\(status.notes)", sourceLocation: sourceLocation)
        #expect(status.current == status.state.active, sourceLocation: sourceLocation)
        #expect(status.state.activeRelease?.version == version, sourceLocation: sourceLocation)
        #expect(f.currentTarget == "releases/\(status.state.active ?? "-")", sourceLocation: sourceLocation)
        #expect(status.drift?.clean == true, "\(String(describing: status.drift))", sourceLocation: sourceLocation)
        #expect(
            !f.releaseFolderNames().contains {
                $0.hasSuffix(".staging") || $0.hasSuffix(".discard") || $0.contains(".tmp-")
            },
            "\(f.releaseFolderNames())", sourceLocation: sourceLocation)
    }

    // MARK: - Install, status, rollback

    @Test(.clause("IQ 3.2", "IQ 4.1.2 c")) func installThenStatusShowsTheActiveReleaseAndItsTree() throws {
        let f = try InstallFixture()
        let bundle = try f.bundle(version: Self.v1)
        let outcome = try Installer.install(try f.request(bundle))
        #expect(!outcome.alreadyActive)
        #expect(outcome.previous == nil)
        let digest = try #require(outcome.report.manifestDigest)
        let name = "\(Self.v1)-\(digest.hex.prefix(12))"
        #expect(outcome.release.name == name)
        #expect(outcome.report.passed)
        #expect(outcome.report.checks.contains { $0.id == .payload && $0.status == .pass })
        #expect(f.currentTarget == "releases/\(name)")
        #expect(f.releaseFolderNames() == [name, name + ".manifest.json"])
        // The tree is the payload as is, modes from the manifest.
        let tree = f.root + "/releases/" + name
        #expect(FileManager.default.contents(atPath: tree + "/service/locale/zh_CN/说明.txt") == Data("肺结节检测\n".utf8))
        #expect(FileManager.default.contents(atPath: tree + "/LICENSE.txt")?.count == InstallFixture.bigSize)
        let runMode =
            try FileManager.default.attributesOfItem(atPath: tree + "/service/run.sh")[.posixPermissions] as? Int
        #expect(runMode == 0o755)
        let appMode =
            try FileManager.default.attributesOfItem(atPath: tree + "/service/app.py")[.posixPermissions] as? Int
        #expect(appMode == 0o644)
        // The manifest kept beside it is the signed one.
        #expect(SHA256Digest.of(Array(FileManager.default.contents(atPath: tree + ".manifest.json")!)) == digest)

        let status = try Installer.status(root: f.root, check: true)
        #expect(status.state.active == name)
        #expect(status.state.previous == nil)
        let release = try #require(status.state.activeRelease)
        #expect(release.version == Self.v1 && release.product == "PulmoScan AI" && release.manifestSHA256 == digest)
        #expect(Set(release.signers.map(\.role)) == ["release-manager", "quality"])
        #expect(release.signers.allSatisfy { $0.subject.contains("DEVELOPMENT") })
        #expect(release.installedBy == "root" || !release.installedBy.isEmpty)
        #expect(release.installedAt.hasSuffix("Z"))
        #expect(status.state.history.map(\.action) == ["install"])
        #expect(status.drift?.clean == true && status.drift?.files == 13)

        // Through the command line: text and JSON.
        let text = ivpack(["status", "--root", f.root])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("Active:   \(name)  PulmoScan AI \(Self.v1)"), "\(text.stdout)")
        let json = ivpack(["status", "--root", f.root, "--json", "--check"])
        #expect(json.status == 0, "\(json.stderr)")
        let value = try JSONParser.parse(Array(json.stdout.utf8))
        #expect(value["active"]?.stringValue == name)
        #expect(value["current"]?.stringValue == name)
        #expect(value["drift"]?["clean"]?.boolValue == true)
    }

    @Test func installedStateValidatesAgainstItsSchema() throws {
        let f = try InstallFixture()
        _ = try Installer.install(try f.request(try f.bundle(version: Self.v1, big: false)))
        var downgrade = try f.request(try f.bundle(version: "V2.3.0.1013", big: false))
        downgrade.allowDowngrade = true
        downgrade.reason = "CR-7: back to the validated model"
        _ = try Installer.install(downgrade)
        _ = try Installer.rollback(root: f.root, toVersion: nil, reason: "test")
        InstallHooksTests.expectValid(f.root + "/.ivpack/state.json", schema: "installed-state.schema.json")
    }

    @Test(.clause("IQ 5.2.2", "IQ 6.3.2 a", "IQ 6.3.2 b")) func secondReleaseThenRollbackThenStatus() throws {
        let f = try InstallFixture()
        let first = try Installer.install(try f.request(try f.bundle(version: Self.v1)))
        let second = try Installer.install(try f.request(try f.bundle(version: Self.v2)))
        #expect(second.previous == first.release.name)
        try Self.expectConsistent(f, active: Self.v2)
        #expect(try Installer.status(root: f.root, check: false).state.previous == first.release.name)

        let cli = ivpack(["rollback", "--root", f.root, "--reason", "CR-118: the new model misreads site scans"])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout.contains("Rolled back: \(second.release.name) -> \(first.release.name)"), "\(cli.stdout)")
        try Self.expectConsistent(f, active: Self.v1)
        let state = try Installer.status(root: f.root, check: false).state
        #expect(state.previous == second.release.name)
        #expect(state.history.map(\.action) == ["install", "install", "rollback"])
        #expect(state.history.last?.reason == "CR-118: the new model misreads site scans")
        #expect(state.history.last?.from == second.release.name)
        // Both releases are kept: rollback is a switch, not a copy.
        #expect(f.releaseFolderNames().filter { !$0.hasSuffix(".json") }.count == 2)

        // Back again with --to.
        let back = try Installer.rollback(root: f.root, toVersion: Self.v2, reason: "fixed on site")
        #expect(back.to.name == second.release.name)
        try Self.expectConsistent(f, active: Self.v2)
        // A version that is not kept: refused, exit 1, nothing changed.
        let before = f.stateBytes
        let missing = ivpack(["rollback", "--root", f.root, "--to", "V9.9.9.9", "--reason", "x"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no kept release has version V9.9.9.9; kept: \(Self.v1)"), "\(missing.stderr)")
        #expect(f.stateBytes == before)
        // Without --reason: a usage error.
        #expect(ivpack(["rollback", "--root", f.root]).status == 64)
    }

    @Test func rollbackWithNothingBeforeIsRefused() throws {
        let f = try InstallFixture()
        _ = try Installer.install(try f.request(try f.bundle(version: Self.v1, big: false)))
        let r = ivpack(["rollback", "--root", f.root, "--reason", "x"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("there is no previous release to roll back to"), "\(r.stderr)")
    }

    // MARK: - Verify while extracting

    @Test(
        .clause("IQ 4.1.2 c", "IQ 5.1.2", "IQ 6.2.2 f"),
        arguments: [("LICENSE.txt", 1_500_000), ("service/app.py", 10)])
    func flippedPayloadByteIsNamedAndNothingChanges(file: String, at offset: Int) throws {
        let f = try InstallFixture()
        let first = try Installer.install(try f.request(try f.bundle(version: Self.v1, big: true)))
        let stateBefore = f.stateBytes
        let bundle = try f.bundle(version: Self.v2, big: true)
        // The file's data in the bundle: the bytes of the built release.
        let bytes = Array(FileManager.default.contents(atPath: bundle)!)
        let entries = try BundleSurgery.entries(of: bundle)
        let entry = try #require(entries.first { $0.path == "payload/" + file })
        let at = try #require(BundleSurgery.offset(of: Array(entry.data.prefix(256)), in: bundle))
        #expect(at > 0 && at < bytes.count)
        BundleSurgery.flipByte(in: bundle, at: at + offset)
        let chunk = offset / (64 << 10)
        let r = ivpack(["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("payload/\(file): chunk \(chunk) (bytes \(chunk * 65536) to"), "\(r.stderr)")
        #expect(r.stderr.contains("nothing was installed"))
        #expect(f.stateBytes == stateBefore)
        #expect(f.currentTarget == "releases/\(first.release.name)")
        #expect(f.releaseFolderNames() == [first.release.name, first.release.name + ".manifest.json"])
        try Self.expectConsistent(f, active: Self.v1)
    }

    // MARK: - Versions

    @Test(.clause("IQ 5.5.1")) func downgradeIsRefusedUnlessAllowedWithAReason() throws {
        let f = try InstallFixture()
        let newer = try Installer.install(try f.request(try f.bundle(version: Self.v2, big: false)))
        let older = try f.bundle(version: Self.v1, big: false)
        let before = f.stateBytes
        let error = #expect(throws: InstallError.self) { try Installer.install(try f.request(older)) }
        #expect(error?.exitStatus == .checkFailed)
        #expect(
            error?.description.contains(
                "version \(Self.v1) is below the active version \(Self.v2): a downgrade is refused") == true)
        #expect(f.stateBytes == before)
        let cli = ivpack(["install", older, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        #expect(cli.status == 1)
        #expect(cli.stderr.contains("--allow-downgrade --reason TEXT"), "\(cli.stderr)")
        #expect(
            ivpack(["install", older, "--trust", f.signed.pki.trustPolicy, "--root", f.root, "--allow-downgrade"])
                .status == 64)

        let allowed = ivpack([
            "install", older, "--trust", f.signed.pki.trustPolicy, "--root", f.root,
            "--allow-downgrade", "--reason", "CAPA-42: V2.4 withdrawn by the vendor",
        ])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(allowed.stdout.contains("Downgrade allowed: CAPA-42"), "\(allowed.stdout)")
        let state = try Installer.status(root: f.root, check: false).state
        #expect(state.activeRelease?.version == Self.v1)
        #expect(state.activeRelease?.downgradeReason == "CAPA-42: V2.4 withdrawn by the vendor")
        #expect(state.history.last?.reason == "CAPA-42: V2.4 withdrawn by the vendor")
        #expect(state.previous == newer.release.name)
    }

    @Test func installingTheActiveManifestAgainIsANoOp() throws {
        let f = try InstallFixture()
        let bundle = try f.bundle(version: Self.v1, big: false)
        _ = try Installer.install(try f.request(bundle))
        let before = f.stateBytes
        let listing = InstallFixture.listing(f.root)
        let r = ivpack(["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Already active"), "\(r.stdout)")
        // The payload was not read, and the output says so rather than claiming it passed.
        #expect(
            r.stdout.contains("WARN  payload:") && r.stdout.contains("- not run: this manifest is the active release"))
        #expect(f.stateBytes == before)
        #expect(InstallFixture.listing(f.root) == listing)
    }

    @Test func reinstallingAKeptReleaseReplacesItWithCheckedBytes() throws {
        let f = try InstallFixture()
        let b1 = try f.bundle(version: Self.v1, big: false)
        let first = try Installer.install(try f.request(b1))
        _ = try Installer.install(try f.request(try f.bundle(version: Self.v2, big: false)))
        // Someone changed a file of the kept release; installing its bundle again brings the checked bytes back.
        let kept = f.root + "/releases/" + first.release.name + "/service/app.py"
        try Data("tampered\n".utf8).write(to: URL(fileURLWithPath: kept))
        var again = try f.request(b1)
        again.allowDowngrade = true
        again.reason = "back to V2.3.1"
        _ = try Installer.install(again)
        try Self.expectConsistent(f, active: Self.v1)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: checks the owner of installed files"))
    func asRootEveryInstalledFileIsOwnedByRootWithTheManifestsMode() throws {
        let f = try InstallFixture()
        let outcome = try Installer.install(try f.request(try f.bundle(version: Self.v1, big: false)))
        let folder = f.root + "/releases/" + outcome.release.name
        let manifest = try Manifest.decode(
            Array(try Data(contentsOf: URL(fileURLWithPath: folder + ".manifest.json"))), source: "manifest")
        let modes = Dictionary(
            uniqueKeysWithValues: manifest.allFiles.map {
                (String($0.path.dropFirst(Manifest.payloadPrefix.count)), $0.mode == "0755" ? 0o755 : 0o644)
            })
        #expect(modes.values.contains(0o755) && modes.values.contains(0o644))
        var files = 0
        for path in InstallFixture.listing(folder) {
            var st = stat()
            #expect(lstat(folder + "/" + path, &st) == 0)
            #expect(st.st_uid == 0 && st.st_gid == 0, "\(path): owner \(st.st_uid):\(st.st_gid)")
            switch st.st_mode & S_IFMT {
            case S_IFDIR: #expect(st.st_mode & 0o7777 == 0o755, "\(path): folder mode")
            case S_IFREG:
                files += 1
                #expect(
                    Int(st.st_mode & 0o7777) == modes[path], "\(path): mode \(String(st.st_mode & 0o7777, radix: 8))")
            default: Issue.record("\(path) is neither a file nor a folder")
            }
        }
        #expect(files == modes.count)
    }

    /// Large files are written with O_DIRECT in whole 4 KiB blocks and their last partial block
    /// through the page cache; where the file system refuses O_DIRECT (tmpfs before Linux 6.6),
    /// all buffered. Both must give the bytes of the bundle exactly.
    @Test(arguments: ["/tmp", "/dev/shm"])
    func aLargeFileWithAnUnalignedTailInstallsByteForByte(base: String) throws {
        guard FileManager.default.isWritableFile(atPath: base) else { return }
        let f = try InstallFixture()
        let size = 5 << 20 + 1234
        let text = String(decoding: InstallFixture.pattern(size, seed: 99).map { 0x41 + $0 % 26 }, as: UTF8.self)
        let bundle = try f.bundle(version: Self.v1, big: false, files: [("service/data/weights.bin", text, 0o644)])
        let root = base + "/ivpack-direct-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let outcome = try Installer.install(
            InstallRequest(bundlePath: bundle, root: root, policy: try f.signed.policy()))
        let installed = try Data(contentsOf: URL(fileURLWithPath: outcome.releaseFolder + "/service/data/weights.bin"))
        #expect(installed.count == size)
        #expect(installed == Data(text.utf8), "the installed bytes differ from the bundle's")
        #expect(try Installer.status(root: root, check: true).drift?.clean == true)
    }

    // MARK: - Unchecked requirements

    static var hasNoNvidiaSMI: Bool {
        !["/usr/bin/nvidia-smi", "/usr/local/bin/nvidia-smi", "/bin/nvidia-smi"].contains {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    @Test(.enabled(if: hasNoNvidiaSMI, "this host has nvidia-smi"))
    func aGPURequirementOnAHostWithoutNvidiaSMIFailsUnlessAcceptedWithAReason() throws {
        let f = try InstallFixture()
        let spec = ReleaseFixture.spec(version: Self.v1).replacingOccurrences(
            of: "requirements:\n", with: "requirements:\n  gpu: {vendor: nvidia, minCount: 1}\n")
        let bundle = try f.bundle(version: Self.v1, big: false, files: [("ivpack.yaml", spec, 0o644)])
        let report = f.work.url("iq.json")
        let refused = ivpack(["verify", bundle, "--trust", f.signed.pki.trustPolicy, "--report", report])
        #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stdout.contains("FAIL  environment.gpu"), "\(refused.stdout)")
        #expect(
            ivpack(["verify", bundle, "--trust", f.signed.pki.trustPolicy, "--accept-unchecked", "gpu"]).status == 64)
        let reason = "CR-77: this site runs inference on the CPU"
        let accepted = ivpack([
            "verify", bundle, "--trust", f.signed.pki.trustPolicy, "--accept-unchecked", "gpu", "--reason", reason,
            "--report", report,
        ])
        #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
        let iq = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: report))))
        let gpu = iq["checks"]?.arrayValue?.first { $0["id"]?.stringValue == "environment.gpu" }
        #expect(gpu?["status"]?.stringValue == "warn")
        #expect(gpu?["evidence"]?["accepted.unchecked"]?.stringValue == reason)
        #expect(iq["problems"]?.arrayValue?.contains { $0["check"]?.stringValue == "environment.gpu" } == true)
        // install takes the same acceptance (its --reason), and refuses without it, writing nothing.
        let noAccept = ivpack(["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        #expect(noAccept.status == 1 && !FileManager.default.fileExists(atPath: f.root), "\(noAccept.stderr)")
        let installed = ivpack([
            "install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root, "--accept-unchecked", "gpu",
            "--reason", reason,
        ])
        #expect(installed.status == 0, "\(installed.stdout)\(installed.stderr)")
    }

    // MARK: - Licence

    @Test(.clause("IQ 4.1.2 d", "IQ 5.1.1")) func aLicensedInstallOverMutualTLSRecordsTheInstallersCertificate()
        async throws
    {
        let f = try InstallFixture()
        let server = try await LicenseServerFixture(pki: f.signed.pki, folder: f.work)
        try await server.issue()
        let bundle = try f.bundle(version: Self.v1, big: false)
        try await server.register(bundle: bundle)
        let licence = [
            "--license-server", server.url, "--site", "SITE-001", "--client-cert", f.signed.pki.installer.certificate,
            "--client-key", f.signed.pki.installer.key, "--license-timeout", "20",
        ]
        // A client certificate the server does not accept as an installer's: refused, nothing written.
        let plain = try DevelopmentPKI.issueSigner(
            role: "installer", policyOID: nil, in: f.signed.pki, name: "not-an-installer",
            notBefore: Timestamp.now() - 3000, notAfter: Timestamp.now() + 3000,
            extendedKeyUsage: [WellKnownOID.clientAuth])
        var wrong = licence
        wrong[5] = plain.certificate
        wrong[7] = plain.key
        let refused = await runDetached(
            ivpackExecutable, ["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root] + wrong)
        #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("license"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.root), "a refused licence must write nothing")
        // The installer's own certificate: licensed, installed, and the state names the installer.
        let r = await runDetached(
            ivpackExecutable, ["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root] + licence)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!r.stdout.contains("Licence: not run"), "\(r.stdout)")
        let release = try #require(try Installer.status(root: f.root, check: false).state.activeRelease)
        let subject = try #require(try Certificate.load(file: f.signed.pki.installer.certificate).first).subject
        #expect(release.installedBy.hasPrefix(subject + " (OS user "), "\(release.installedBy)")
        await server.stop()
        // Without licence options, install says the licence was not run.
        let f2 = try InstallFixture()
        let unlicensed = ivpack(
            [
                "install", try f2.bundle(version: Self.v1, big: false), "--trust", f2.signed.pki.trustPolicy, "--root",
                f2.root,
            ])
        #expect(unlicensed.status == 0 && unlicensed.stdout.contains("Licence: not run"), "\(unlicensed.stdout)")
    }

    // MARK: - Crash safety

    @Test(
        .clause("IQ 4.1.2 c", "IQ 5.2.1"),
        arguments: ["install-staging-half", "install-before-switch", "install-after-switch"])
    func killedInstallLeavesOneCompleteReleaseAndTheNextInstallSucceeds(failpoint: String) throws {
        let f = try InstallFixture()
        let first = try Installer.install(try f.request(try f.bundle(version: Self.v1)))
        let b2 = try f.bundle(version: Self.v2)
        let killed = try ivpackKilledAtFailpoint(
            ["install", b2, "--trust", f.signed.pki.trustPolicy, "--root", f.root], failpoint: failpoint)
        #expect(killed.stderr.contains("failpoint reached"), "\(killed.stderr)")
        #expect(killed.killedBySignal)
        // Right after the kill: `current` names one complete release that matches its manifest.
        let status = try Installer.status(root: f.root, check: true)
        let current = try #require(status.current)
        #expect(status.drift?.clean == true, "\(String(describing: status.drift))")
        #expect(status.state.release(named: current) != nil, "current names an unrecorded release")
        #expect(
            current == (failpoint == "install-after-switch" ? status.state.releases.last!.name : first.release.name))
        if failpoint == "install-staging-half" {
            #expect(f.releaseFolderNames().contains { $0.hasSuffix(".staging") })
            #expect(status.notes.contains { $0.contains("left by an interrupted install") })
        }
        // The next install mends the root and succeeds; the state agrees with current.
        let again = ivpack(["install", b2, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        try Self.expectConsistent(f, active: Self.v2)
        let state = try Installer.status(root: f.root, check: false).state
        #expect(state.previous == first.release.name)
        #expect(state.releases.count == 2)
    }

    @Test(.clause("IQ 5.2.1", "IQ 5.2.2", "IQ 6.3.2 c")) func killedRollbackIsReconciledByTheNextRun() throws {
        let f = try InstallFixture()
        let first = try Installer.install(try f.request(try f.bundle(version: Self.v1, big: false)))
        let second = try Installer.install(try f.request(try f.bundle(version: Self.v2, big: false)))
        let killed = try ivpackKilledAtFailpoint(
            ["rollback", "--root", f.root, "--reason", "x"], failpoint: "rollback-after-switch")
        #expect(killed.killedBySignal, "\(killed.stderr)")
        let status = try Installer.status(root: f.root, check: true)
        #expect(status.current == first.release.name)
        #expect(status.drift?.clean == true)
        #expect(status.notes.contains { $0.contains("reconciles") })
        // The next run follows current: the state now says V1 is active, V2 previous.
        _ = try Installer.rollback(root: f.root, toVersion: nil, reason: "again")
        try Self.expectConsistent(f, active: Self.v2)
        let state = try Installer.status(root: f.root, check: false).state
        #expect(state.history.map(\.action) == ["install", "install", "reconcile", "rollback"])
        #expect(state.previous == first.release.name && state.active == second.release.name)
    }

    @Test(.clause("IQ 5.2.1")) func leftoversAndUnrecordedFoldersAreRemovedByTheNextRun() throws {
        let f = try InstallFixture()
        let first = try Installer.install(try f.request(try f.bundle(version: Self.v1, big: false)))
        // What interrupted runs leave: a staging folder, a release renamed into place but never
        // recorded, a temporary link and a temporary state file.
        f.work.write("root/releases/V2.4.0.1101-0123456789ab.staging/service/app.py", "half")
        f.work.write("root/releases/V2.4.0.1101-0123456789ab/service/app.py", "complete but unrecorded")
        f.work.write("root/releases/V2.4.0.1101-0123456789ab.manifest.json", "{}")
        f.work.write("root/.ivpack/state.json.tmp-999", "{")
        try FileManager.default.createSymbolicLink(
            atPath: f.root + "/.current.tmp-999", withDestinationPath: "releases/x")
        let status = try Installer.status(root: f.root, check: false)
        #expect(status.notes.contains { $0.contains("V2.4.0.1101-0123456789ab.staging") }, "\(status.notes)")
        let second = try Installer.install(try f.request(try f.bundle(version: Self.v2, big: false)))
        #expect(
            second.reconciled.contains { $0.contains("removed releases/V2.4.0.1101-0123456789ab.staging") },
            "\(second.reconciled)")
        #expect(
            second.reconciled.contains { $0.contains("removed releases/V2.4.0.1101-0123456789ab:") },
            "\(second.reconciled)")
        #expect(
            f.releaseFolderNames()
                == [
                    first.release.name, first.release.name + ".manifest.json",
                    second.release.name, second.release.name + ".manifest.json",
                ].sorted())
        #expect(!FileManager.default.fileExists(atPath: f.root + "/.ivpack/state.json.tmp-999"))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: f.root + "/.current.tmp-999")) == nil)
        try Self.expectConsistent(f, active: Self.v2)
    }

    @Test func aStateFileThatBreaksItsSchemaIsBadInputNamingTheMember() throws {
        let f = try InstallFixture()
        _ = try Installer.install(try f.request(try f.bundle(version: Self.v1, big: false)))
        let text = String(decoding: f.stateBytes, as: UTF8.self).replacingOccurrences(
            of: "\"installedBy\"", with: "\"installedVia\"")
        f.work.write("root/.ivpack/state.json", text)
        let r = ivpack(["status", "--root", f.root])
        #expect(r.status == 2)
        #expect(
            r.stderr.contains(
                "\(f.root)/.ivpack/state.json: state member /releases/0/installedVia is not a known member"),
            "\(r.stderr)")
        #expect(r.stderr.contains("restore it from a backup"))
    }

    // MARK: - Hostile bundles and bad roots

    @Test func hostileBundlesWriteNothingOutsideTheRoot() throws {
        let f = try InstallFixture()
        _ = try Installer.install(try f.request(try f.bundle(version: Self.v1, big: false)))
        let h = try HostileBundles(f.signed)
        let parent = f.work.path
        for c in try HostileBundleTests.cases(h) {
            let path = f.work.url("hostile.ivp")
            try Data(c.bytes).write(to: URL(fileURLWithPath: path))
            let outside = InstallFixture.listing(parent).filter { !$0.hasPrefix("root") }
            let inside = InstallFixture.listing(f.root)
            let state = f.stateBytes
            #expect(throws: InstallError.self, "\(c.name): installed") { try Installer.install(try f.request(path)) }
            #expect(InstallFixture.listing(parent).filter { !$0.hasPrefix("root") } == outside, "\(c.name)")
            #expect(InstallFixture.listing(f.root) == inside, "\(c.name): the root changed")
            #expect(f.stateBytes == state)
            #expect(!FileManager.default.fileExists(atPath: "/tmp/\(HostileBundleTests.canary)"))
            #expect(!FileManager.default.fileExists(atPath: f.work.url(HostileBundleTests.canary)))
        }
        try Self.expectConsistent(f, active: Self.v1)
    }

    @Test func aRootThatIsAFileOrALinkIsBadInput() throws {
        let f = try InstallFixture()
        let bundle = try f.bundle(version: Self.v1, big: false)
        f.work.write("root", "not a folder\n")
        let file = ivpack(["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        #expect(file.status == 2)
        #expect(file.stderr.contains("\(f.root): the install root is a regular file, not a folder"), "\(file.stderr)")
        #expect(f.work.read("root") == Array("not a folder\n".utf8))

        let elsewhere = TemporaryFolder("ivpack-elsewhere")
        let link = f.work.url("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: elsewhere.path)
        let linked = ivpack(["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", link])
        #expect(linked.status == 2)
        #expect(linked.stderr.contains("the install root is a symbolic link"), "\(linked.stderr)")
        #expect(InstallFixture.listing(elsewhere.path).isEmpty)

        let orphan = ivpack([
            "install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.work.url("no/such/root"),
        ])
        #expect(orphan.status == 2)
        #expect(
            orphan.stderr.contains("cannot create the install root (its parent folder must exist"), "\(orphan.stderr)")

        let none = ivpack(["status", "--root", elsewhere.path])
        #expect(none.status == 2)
        #expect(none.stderr.contains("nothing is installed here"), "\(none.stderr)")
    }

    @Test func linksPlantedInTheRootAreNeverFollowed() throws {
        let f = try InstallFixture()
        let bundle = try f.bundle(version: Self.v1, big: true)
        let elsewhere = TemporaryFolder("ivpack-elsewhere")
        elsewhere.write("keep.txt", "mine\n")
        // releases/ (or .ivpack/) as a link to another folder: refused, nothing written there.
        for planted in ["releases", ".ivpack"] {
            try? FileManager.default.removeItem(atPath: f.root)
            try FileManager.default.createDirectory(atPath: f.root, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(
                atPath: f.root + "/" + planted, withDestinationPath: elsewhere.path)
            let r = ivpack(["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
            #expect(r.status == 3, "\(planted): \(r.stderr)")
            #expect(
                r.stderr.contains("\(f.root)/\(planted): cannot open it as a folder (it is a symbolic link)"),
                "\(r.stderr)")
            #expect(InstallFixture.listing(elsewhere.path) == ["keep.txt"], "\(planted)")
        }
        // A staging folder that is a link to elsewhere: removed as a link, its target untouched,
        // and the install writes into a folder of its own.
        try FileManager.default.removeItem(atPath: f.root)
        let digest = try BundleInspector.inspect(path: bundle).manifestDigest
        let name = ReleaseName.make(version: Self.v1, manifestDigest: digest)
        _ = try Installer.install(try f.request(try f.bundle(version: "V2.3.0.1013", big: false)))
        try FileManager.default.createSymbolicLink(
            atPath: f.root + "/releases/\(name).staging", withDestinationPath: elsewhere.path)
        let r = ivpack(["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(InstallFixture.listing(elsewhere.path) == ["keep.txt"])
        #expect(elsewhere.read("keep.txt") == Array("mine\n".utf8))
        try Self.expectConsistent(f, active: Self.v1)
    }

    @Test func anUnwritableRootIsAnEnvironmentFailure() throws {
        let f = try InstallFixture()
        let bundle = try f.bundle(version: Self.v1, big: false)
        try FileManager.default.createDirectory(atPath: f.root, withIntermediateDirectories: true)
        let expected: String
        if geteuid() == 0 {
            guard FaultTests.canMount else { return }
            #expect(run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", f.root]).status == 0)
            expected = "Read-only file system"
        } else {
            #expect(chmod(f.root, 0o555) == 0)
            expected = "Permission denied"
        }
        defer {
            if geteuid() == 0 { run("/bin/umount", [f.root]) } else { chmod(f.root, 0o755) }
        }
        let r = ivpack(["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("\(f.root)/.ivpack: cannot create the folder: \(expected)"), "\(r.stderr)")
        #expect(InstallFixture.listing(f.root).isEmpty)
    }

    @Test(.clause("IQ 6.3.1"), .enabled(if: FaultTests.canMount, "needs permission to mount a tmpfs"))
    func aFullDiskFailsCleanlyAndLeavesTheActiveRelease() throws {
        let f = try InstallFixture()
        try FileManager.default.createDirectory(atPath: f.root, withIntermediateDirectories: true)
        #expect(run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", f.root]).status == 0)
        defer { run("/bin/umount", [f.root]) }
        let first = try Installer.install(try f.request(try f.bundle(version: Self.v1, big: false)))
        let before = f.stateBytes
        // 2 MiB do not fit in what is left of 1 MiB.
        let r = ivpack([
            "install", try f.bundle(version: Self.v2, big: true), "--trust", f.signed.pki.trustPolicy, "--root", f.root,
        ])
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains(".staging/"), "\(r.stderr)")
        #expect(r.stderr.contains("No space left on device"), "\(r.stderr)")
        #expect(f.stateBytes == before)
        #expect(f.releaseFolderNames() == [first.release.name, first.release.name + ".manifest.json"])
        try Self.expectConsistent(f, active: Self.v1)
    }

    // MARK: - Drift

    @Test(.clause("IQ 6.3.2 c")) func statusCheckNamesChangedAddedAndMissingFiles() throws {
        let f = try InstallFixture()
        let installed = try Installer.install(try f.request(try f.bundle(version: Self.v1)))
        let tree = f.root + "/releases/" + installed.release.name
        BundleSurgery.flipByte(in: tree + "/LICENSE.txt", at: 200_000)
        f.work.write("root/releases/\(installed.release.name)/service/extra.py", "import os\n")
        try FileManager.default.removeItem(atPath: tree + "/docs/manual.md")
        #expect(chmod(tree + "/service/app.py", 0o666) == 0)
        let status = try Installer.status(root: f.root, check: true)
        let drift = try #require(status.drift)
        #expect(!drift.clean)
        #expect(drift.added == ["service/extra.py"])
        #expect(drift.missing == ["docs/manual.md"])
        #expect(
            drift.changed.contains { $0.hasPrefix("LICENSE.txt: chunk 3 (bytes 196608 to 262143) does not match") },
            "\(drift.changed)")
        #expect(drift.changed.contains("service/app.py: mode 0666, the manifest says 0644"), "\(drift.changed)")
        let r = ivpack(["status", "--root", f.root, "--check"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.contains("changed: LICENSE.txt: chunk 3"), "\(r.stdout)")
        #expect(r.stdout.contains("added:   service/extra.py"))
        #expect(r.stdout.contains("missing: docs/manual.md"))
    }

    // MARK: - The lock

    /// Starts `ivpack` stopped at `failpoint` (holding the root's lock) and returns it running.
    static func pausedAtFailpoint(_ arguments: [String], failpoint: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ivpackExecutable)
        process.arguments = arguments
        process.environment = [Failpoint.variable: failpoint, "PATH": "/usr/bin:/bin"]
        let err = Pipe()
        process.standardError = err
        try process.run()
        let line = String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
        #expect(line.contains("failpoint reached"), "\(line)")
        return process
    }

    @Test(.clause("IQ 6.3.1")) func aSecondInstallWaitsForTheLockThenFailsClearly() throws {
        let f = try InstallFixture()
        _ = try Installer.install(try f.request(try f.bundle(version: Self.v1, big: false)))
        let b2 = try f.bundle(version: Self.v2, big: false)
        let holder = try Self.pausedAtFailpoint(
            ["install", b2, "--trust", f.signed.pki.trustPolicy, "--root", f.root], failpoint: "install-before-switch")
        let started = Date()
        let second = ivpack(["install", b2, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        let waited = Date().timeIntervalSince(started)
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        #expect(second.status == 3, "\(second.stderr)")
        #expect(
            second.stderr.contains(
                "\(f.root)/.ivpack/lock: another ivpack (install, rollback) is working on this install root; waited 5 s"
            ), "\(second.stderr)")
        #expect(waited >= 4.5 && waited < 30, "waited \(waited) s")
        let again = ivpack(["install", b2, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        #expect(again.status == 0, "\(again.stderr)")
        try Self.expectConsistent(f, active: Self.v2)
    }

    @Test(.clause("IQ 5.3.2", "IQ 6.3.1")) func concurrentInstallsNeverInterleave() async throws {
        let f = try InstallFixture()
        let bundles = [try f.bundle(version: Self.v1), try f.bundle(version: Self.v2)]
        let policy = f.signed.pki.trustPolicy
        let root = f.root
        let results = await withTaskGroup(of: ProcessResult.self) { group in
            for i in 0..<4 {
                let bundle = bundles[i % 2]
                group.addTask {
                    await runDetached(ivpackExecutable, ["install", bundle, "--trust", policy, "--root", root])
                }
            }
            var out: [ProcessResult] = []
            for await r in group { out.append(r) }
            return out
        }
        // Each run installed, found its manifest active, was refused as a downgrade, or timed out on the lock.
        for r in results { #expect([0, 1, 3].contains(r.status), "\(r.status): \(r.stderr)") }
        #expect(results.contains { $0.status == 0 })
        let status = try Installer.status(root: root, check: true)
        #expect(status.notes.isEmpty && status.current == status.state.active)
        #expect(status.drift?.clean == true)
        #expect(status.state.history.allSatisfy { $0.action == "install" })
        #expect(!f.releaseFolderNames().contains { $0.hasSuffix(".staging") })
    }
}
