import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Install hooks, the site's state, the automatic rollback and prune (issue 15): real hook
/// programs (shell scripts of the release) run by real ivpack processes, state files compared byte
/// for byte, crashes by SIGKILL inside a hook. Serialized: each test waits on several ivpack
/// processes in turn on a thread of the shared pool; run all at once on 2 cores, they starved the
/// in-process licence server of LicenseTests into a 20 s timeout (clean-clone CI at 547b157).
@Suite(.serialized) struct InstallHooksTests {
    static let v1 = ReleaseFixture.defaultVersion
    static let v2 = "V2.4.0.1101"
    static let v3 = "V2.5.0.1200"

    /// A postInstall hook that writes the site configuration when absent, notes the install in
    /// a log and dumps its environment; `extra` is appended (e.g. `exit 4`).
    static func postInstall(extra: String = "") -> String {
        """
        #!/bin/sh
        set -e
        mkdir -p "$IVPACK_STATE_DIR/etc" "$IVPACK_STATE_DIR/var"
        [ -e "$IVPACK_STATE_DIR/etc/site.conf" ] || printf 'port = 8443\\n' > "$IVPACK_STATE_DIR/etc/site.conf"
        echo "installed $IVPACK_VERSION after ${IVPACK_PREVIOUS_VERSION:-none}" >> "$IVPACK_STATE_DIR/var/install.log"
        env | sort > "$IVPACK_STATE_DIR/var/env-$IVPACK_VERSION.txt"
        pwd > "$IVPACK_STATE_DIR/var/pwd-$IVPACK_VERSION.txt"
        echo "configured $IVPACK_VERSION in $(pwd)"
        \(extra)
        """
    }

    /// A health check that passes unless `fail` is set.
    static func healthCheck(fail: Bool = false) -> String {
        fail
            ? "#!/bin/sh\necho 'self-test: model answer 0.12, expected 0.87'\necho 'unhealthy' >&2\nexit 1\n"
            : "#!/bin/sh\ntest -s \"$IVPACK_STATE_DIR/etc/site.conf\" && echo healthy\n"
    }

    static let hookFiles = ["service/hooks/post-install", "service/hooks/health-check"]

    /// The spec's install section with both hooks and `etc`, `var` as state paths, plus any
    /// more hook lines (indented for `hooks:`).
    static func installSection(moreHooks: String = "", timeout: String = "20s") -> String {
        """
        state: [etc, var]
        hooks:
          postInstall:
            run: [service/hooks/post-install]
            timeout: \(timeout)
          healthCheck:
            run: [service/hooks/health-check]
            timeout: 20s
        \(moreHooks)
        """
    }

    /// A bundle of `version` with the two hooks (postInstall with `extra`, a failing health check
    /// when `unhealthy`) and any more files.
    static func bundle(
        _ f: InstallFixture, _ version: String, extra: String = "", unhealthy: Bool = false,
        moreHooks: String = "", more: [(String, String, Int)] = [], timeout: String = "20s", name: String? = nil
    ) throws -> String {
        try f.bundle(
            version: version, big: false, name: name, install: installSection(moreHooks: moreHooks, timeout: timeout),
            files: [
                ("service/hooks/post-install", postInstall(extra: extra), 0o755),
                ("service/hooks/health-check", healthCheck(fail: unhealthy), 0o755),
            ] + more)
    }

    static func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every file under `folder` with its bytes (links as `-> target`), for byte-for-byte comparisons.
    static func tree(_ folder: String) -> [String: String] {
        var out: [String: String] = [:]
        for path in InstallFixture.listing(folder) {
            let full = folder + "/" + path
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: full) {
                out[path] = "-> " + target
            } else if let data = FileManager.default.contents(atPath: full) {
                var isFolder: ObjCBool = false
                if FileManager.default.fileExists(atPath: full, isDirectory: &isFolder), !isFolder.boolValue {
                    out[path] = String(decoding: data, as: UTF8.self)
                }
            }
        }
        return out
    }

    /// Validates `file` against `Schemas/SCHEMA` (python3-jsonschema, as the other schema tests).
    static func expectValid(_ file: String, schema: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let r = run(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import json, sys, jsonschema
                schema = json.load(open(sys.argv[1]))
                jsonschema.Draft202012Validator.check_schema(schema)
                jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))
                """, SchemaTests.repositoryRoot + "/Schemas/" + schema, file,
            ])
        #expect(r.status == 0, "\(file): \(r.stdout)\(r.stderr)", sourceLocation: sourceLocation)
    }

    func install(_ f: InstallFixture, _ bundle: String, _ more: [String] = [], environment: [String: String] = [:])
        -> ProcessResult
    {
        ivpack(
            ["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root] + more,
            environment: environment)
    }

    // MARK: - Hooks and the site's state

    @Test(.clause("IQ 4.1.2 d")) func hooksGetTheirEnvironmentAndNoSecretAndTheSiteStateSurvivesUpgrades() throws {
        let f = try InstallFixture()
        let b1 = try Self.bundle(f, Self.v1)
        let inspected = ivpack(["inspect", b1]).stdout
        #expect(inspected.contains("  state (under ROOT/state): etc, var"), "\(inspected)")
        #expect(inspected.contains("  hook postInstall: service/hooks/post-install (timeout 20 s)"), "\(inspected)")
        let r1 = install(f, b1, environment: ["IVPACK_CLIENT_KEY_PASSPHRASE": "s3cret-passphrase"])
        #expect(r1.status == 0, "\(r1.stdout)\(r1.stderr)")
        #expect(r1.stdout.contains("Hook:    postInstall"), "\(r1.stdout)")
        #expect(r1.stdout.contains("Hook:    healthCheck"), "\(r1.stdout)")
        let state = f.root + "/state"
        let env = try #require(Self.read(state + "/var/env-\(Self.v1).txt"))
        let active = try Installer.status(root: f.root, check: false).state.active!
        for line in [
            "IVPACK_ACTION=install", "IVPACK_HOOK=postInstall", "IVPACK_VERSION=\(Self.v1)",
            "IVPACK_RELEASE=\(active)", "IVPACK_RELEASE_DIR=\(f.root)/releases/\(active)",
            "IVPACK_ROOT=\(f.root)", "IVPACK_STATE_DIR=\(state)", "IVPACK_PRODUCT=PulmoScan AI",
        ] {
            #expect(env.contains(line + "\n"), "\(line) not in \(env)")
        }
        #expect(!env.contains("s3cret"), "a secret of ivpack's environment reached the hook")
        #expect(!env.contains("IVPACK_PREVIOUS_VERSION"))
        #expect(!env.contains(Failpoint.variable))
        // The hook ran in its release folder.
        #expect(Self.read(state + "/var/pwd-\(Self.v1).txt") == "\(f.root)/releases/\(active)\n")
        // The site edits its configuration; the upgrade keeps it, and the hook sees the previous version.
        _ = f.work.write("root/state/etc/site.conf", "port = 9443\n# edited on site\n")
        let before = Self.tree(state)
        let b2 = try Self.bundle(f, Self.v2)
        let r2 = install(f, b2)
        #expect(r2.status == 0, "\(r2.stdout)\(r2.stderr)")
        #expect(Self.read(state + "/etc/site.conf") == "port = 9443\n# edited on site\n")
        #expect(
            Self.read(state + "/var/install.log")
                == "installed \(Self.v1) after none\ninstalled \(Self.v2) after \(Self.v1)\n")
        #expect(Self.read(state + "/var/env-\(Self.v2).txt")?.contains("IVPACK_PREVIOUS_VERSION=\(Self.v1)\n") == true)
        // The snapshot is the state as V1 left it, byte for byte.
        #expect(Self.tree(f.root + "/.ivpack/snapshots/\(active)/state") == before)
        // Rolling back puts that state back, byte for byte; rolling forward again brings V2's back.
        let afterV2 = Self.tree(state)
        let back = ivpack(["rollback", "--root", f.root, "--reason", "site acceptance test failed"])
        #expect(back.status == 0, "\(back.stdout)\(back.stderr)")
        #expect(back.stdout.contains("State:   restored as \(active) left it"), "\(back.stdout)")
        #expect(Self.tree(state) == before)
        let forward = ivpack(["rollback", "--root", f.root, "--reason", "fixed"])
        #expect(forward.status == 0, "\(forward.stderr)")
        #expect(Self.tree(state) == afterV2)
        Self.expectValid(f.root + "/.ivpack/state.json", schema: "installed-state.schema.json")
        Self.expectValid(f.root + "/.ivpack/snapshots/\(active)/paths.json", schema: "state-snapshot.schema.json")
    }

    @Test(.clause("IQ 4.1.2 d", "IQ 5.2.2", "IQ 5.4.1", "IQ 6.3.2 a", "IQ 6.3.2 c"))
    func aFailingHealthCheckRollsBackAutomaticallyWithTheStateRestoredByteForByte() throws {
        let f = try InstallFixture()
        #expect(install(f, try Self.bundle(f, Self.v1)).status == 0)
        _ = f.work.write("root/state/etc/site.conf", "port = 9443\n")
        let before = Self.tree(f.root + "/state")
        let v1 = try Installer.status(root: f.root, check: false).state.active!
        // V2's postInstall rewrites the site configuration, then its health check fails.
        let b2 = try Self.bundle(
            f, Self.v2, extra: "printf 'port = 1\\n' > \"$IVPACK_STATE_DIR/etc/site.conf\"", unhealthy: true)
        let audit = f.work.url("audit.jsonl")
        let report = f.work.url("iq.json")
        let r = install(f, b2, ["--report", report], environment: ["IVPACK_AUDIT_LOG": audit])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("the health check (service/hooks/health-check)"), "\(r.stderr)")
        #expect(r.stderr.contains("exit 1"), "\(r.stderr)")
        #expect(r.stderr.contains("rolled back automatically to \(v1)"), "\(r.stderr)")
        #expect(r.stdout.contains("| self-test: model answer 0.12, expected 0.87"), "\(r.stdout)")
        // current, the state record and the site's state are V1's again.
        let status = try Installer.status(root: f.root, check: true)
        #expect(status.current == v1 && status.state.active == v1)
        #expect(status.drift?.clean == true)
        #expect(status.state.pending == nil)
        #expect(Self.tree(f.root + "/state") == before)
        let rollback = try #require(status.state.history.last)
        #expect(rollback.action == "rollback" && rollback.reason?.contains("automatic: the health check") == true)
        #expect(status.state.history.contains { $0.action == "health-check" && $0.result == "fail" })
        // The report and the audit log say the same.
        let iq = try #require(Self.read(report))
        #expect(iq.contains("\"install.health-check\""), "\(iq.prefix(400))")
        #expect(iq.contains("\"install.rollback\""))
        #expect(iq.contains("\"install.hook.post-install\""))
        Self.expectValid(report, schema: "iq-report.schema.json")
        let log = try #require(Self.read(audit))
        #expect(log.contains("\"command\":\"ivpack install health-check\""), "\(log)")
        #expect(log.contains("\"command\":\"ivpack install rollback\""))
        #expect(log.contains("\"command\":\"ivpack install\""))
        #expect(ivpack(["audit", "verify", audit]).status == 0)
    }

    /// `--root` relative to the current folder: the hooks still find their program and get
    /// absolute IVPACK_ROOT / IVPACK_RELEASE_DIR (they failed with "No such file or directory").
    @Test func aRelativeRootGivesHooksAbsolutePaths() throws {
        let f = try InstallFixture()
        let bundle = try Self.bundle(f, Self.v1)
        let r = ivpack(
            ["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", "root"], in: f.work.path)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(f.currentTarget?.hasPrefix("releases/") == true)
        let env = Self.read(f.root + "/state/var/env-\(Self.v1).txt") ?? ""
        let root = try #require(env.split(separator: "\n").first { $0.hasPrefix("IVPACK_ROOT=") })
        #expect(root.hasSuffix("/root") && root.dropFirst("IVPACK_ROOT=".count).hasPrefix("/"), "\(root)")
    }

    @Test(.clause("IQ 5.2.2", "IQ 6.3.2 a")) func aFirstInstallWhoseHealthCheckFailsLeavesTheRootAsBefore() throws {
        let f = try InstallFixture()
        let r = install(f, try Self.bundle(f, Self.v1, unhealthy: true))
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("no earlier release to go back to"), "\(r.stderr)")
        #expect(f.currentTarget == nil)
        #expect(f.releaseFolderNames().isEmpty, "\(f.releaseFolderNames())")
        let state = try Installer.status(root: f.root, check: false).state
        #expect(state.active == nil && state.releases.isEmpty && state.pending == nil)
        // The postInstall hook's files are gone: the state is as before the install (empty).
        #expect(Self.tree(f.root + "/state").isEmpty, "\(Self.tree(f.root + "/state"))")
        #expect(!FileManager.default.fileExists(atPath: f.root + "/.ivpack/snapshots/initial"))
    }

    @Test(.clause("IQ 5.2.2", "IQ 6.3.2 a", "IQ 6.3.2 c"))
    func aPostInstallHookThatFailsAbandonsTheInstallAndPutsTheStateBack() throws {
        let f = try InstallFixture()
        #expect(install(f, try Self.bundle(f, Self.v1)).status == 0)
        let before = Self.tree(f.root + "/state")
        let v1 = try Installer.status(root: f.root, check: false).state.active!
        let r = install(
            f,
            try Self.bundle(
                f, Self.v2,
                extra: "echo 'PACS unreachable' >&2; printf 'x' > \"$IVPACK_STATE_DIR/etc/site.conf\"; exit 4"))
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("the postInstall hook (service/hooks/post-install)"), "\(r.stderr)")
        #expect(r.stderr.contains("exit 4"), "\(r.stderr)")
        #expect(r.stdout.contains("| PACS unreachable"), "\(r.stdout)")
        let status = try Installer.status(root: f.root, check: true)
        #expect(status.current == v1 && status.state.active == v1 && status.state.pending == nil)
        #expect(status.state.releases.count == 1)
        #expect(!f.releaseFolderNames().contains { $0.hasPrefix(Self.v2) }, "\(f.releaseFolderNames())")
        #expect(Self.tree(f.root + "/state") == before)
        #expect(status.state.history.last?.action == "abandon")
    }

    @Test func aHookThatOutlivesItsTimeoutIsStoppedAndTheInstallAbandoned() throws {
        let f = try InstallFixture()
        #expect(install(f, try Self.bundle(f, Self.v1)).status == 0)
        let started = Date()
        let r = install(f, try Self.bundle(f, Self.v2, extra: "sleep 60", timeout: "1s"))
        let took = Date().timeIntervalSince(started)
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("timed out after 1 s"), "\(r.stderr)")
        #expect(took < 30, "took \(took) s")
        try InstallTests.expectConsistent(f, active: Self.v1)
    }

    @Test(.clause("IQ 6.3.1")) func aMissingHookProgramFailsThatStepAndChangesNothing() throws {
        let f = try InstallFixture()
        let preRollback = "  preRollback:\n    run: [service/hooks/pre-rollback]\n    timeout: 5s"
        #expect(install(f, try Self.bundle(f, Self.v1)).status == 0)
        let r2 = install(
            f,
            try Self.bundle(
                f, Self.v2, moreHooks: preRollback, more: [("service/hooks/pre-rollback", "#!/bin/sh\nexit 0\n", 0o755)]
            ))
        #expect(r2.status == 0, "\(r2.stderr)")
        let v2 = try Installer.status(root: f.root, check: false).state.active!
        // Someone removed the program from the installed release.
        try FileManager.default.removeItem(atPath: f.root + "/releases/\(v2)/service/hooks/pre-rollback")
        let r = ivpack(["rollback", "--root", f.root, "--reason", "test"])
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("could not start"), "\(r.stderr)")
        #expect(r.stderr.contains("service/hooks/pre-rollback is missing"), "\(r.stderr)")
        let state = try Installer.status(root: f.root, check: false).state
        #expect(state.active == v2 && state.pending == nil)
        #expect(f.currentTarget == "releases/\(v2)")
    }

    @Test func aStatePathThatIsALinkOutOfTheRootIsRefusedAndNothingOutsideIsTouched() throws {
        let f = try InstallFixture()
        #expect(install(f, try Self.bundle(f, Self.v1)).status == 0)
        let v1 = try Installer.status(root: f.root, check: false).state.active!
        // The site's etc is replaced by a link to a folder outside the root.
        let outside = f.work.url("outside")
        _ = f.work.write("outside/site.conf", "outside\n")
        try FileManager.default.removeItem(atPath: f.root + "/state/etc")
        try FileManager.default.createSymbolicLink(atPath: f.root + "/state/etc", withDestinationPath: outside)
        let r = install(f, try Self.bundle(f, Self.v2))
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("\(f.root)/state/etc: a state path is a symbolic link"), "\(r.stderr)")
        #expect(Self.tree(outside) == ["site.conf": "outside\n"])
        let state = try Installer.status(root: f.root, check: false).state
        #expect(state.active == v1 && f.currentTarget == "releases/\(v1)")
        // A file inside a state path that is a link is kept as a link, never followed.
        try FileManager.default.removeItem(atPath: f.root + "/state/etc")
        _ = f.work.write("root/state/etc/site.conf", "port = 1\n")
        try FileManager.default.createSymbolicLink(
            atPath: f.root + "/state/etc/ca.pem", withDestinationPath: outside + "/site.conf")
        let again = install(f, try Self.bundle(f, Self.v2, name: "v2-again"))
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        let snapshot = Self.tree(f.root + "/.ivpack/snapshots/\(v1)/state")
        #expect(snapshot["etc/ca.pem"] == "-> " + outside + "/site.conf", "\(snapshot)")
        #expect(Self.tree(outside) == ["site.conf": "outside\n"])
    }

    // MARK: - Crash inside a hook

    // The hooks sleep 600 s, not 60: a clean-clone run with 4 builds beside it took over 60 s from
    // the kill to the next install, the hook had ended by itself, and "stopped the hook" was absent.
    @Test func aKillInsideAHookIsUndoneByTheNextRunWhichStopsTheHook() throws {
        let f = try InstallFixture()
        #expect(install(f, try Self.bundle(f, Self.v1)).status == 0)
        let v1 = try Installer.status(root: f.root, check: false).state.active!
        let before = Self.tree(f.root + "/state")
        let slow = try Self.bundle(
            f, Self.v2, extra: "printf 'half' > \"$IVPACK_STATE_DIR/etc/site.conf\"; sleep 600", name: "slow")
        let killed = try ivpackKilledAtFailpoint(
            ["install", slow, "--trust", f.signed.pki.trustPolicy, "--root", f.root], failpoint: "install-in-hook")
        #expect(killed.killedBySignal, "\(killed.stderr)")
        // Right after the kill: current still names V1, complete; the change is pending with its hook.
        let status = try Installer.status(root: f.root, check: true)
        #expect(status.current == v1 && status.drift?.clean == true)
        let pending = try #require(status.state.pending)
        let hook = try #require(pending.hookProcess)
        #expect(kill(hook, 0) == 0, "the hook should still run, orphaned")
        Self.expectValid(f.root + "/.ivpack/state.json", schema: "installed-state.schema.json")
        // The next install stops the hook, puts the state back, removes the half-installed
        // release, and installs.
        let fixed = try Self.bundle(f, Self.v2)
        let r = install(f, fixed)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("stopped the hook the interrupted install left running"), "\(r.stdout)")
        #expect(r.stdout.contains("was undone"), "\(r.stdout)")
        var gone = false
        for _ in 0..<100 where !gone {
            gone = kill(hook, 0) != 0 || (Self.read("/proc/\(hook)/stat")?.contains(") Z ") ?? true)
            if !gone { usleep(20_000) }
        }
        #expect(gone, "the interrupted run's hook still runs")
        try InstallTests.expectConsistent(f, active: Self.v2)
        // The site's state as V1 left it, plus V2's own postInstall (the log line): not "half".
        #expect(Self.read(f.root + "/state/etc/site.conf") == before["etc/site.conf"])
    }

    @Test(.clause("IQ 5.2.1", "IQ 6.3.2 a")) func aKillDuringTheAutomaticRollbackIsFinishedByTheNextRun() throws {
        let f = try InstallFixture()
        #expect(install(f, try Self.bundle(f, Self.v1)).status == 0)
        _ = f.work.write("root/state/etc/site.conf", "port = 9443\n")
        let before = Self.tree(f.root + "/state")
        let b2 = try Self.bundle(
            f, Self.v2, extra: "printf 'port = 1\\n' > \"$IVPACK_STATE_DIR/etc/site.conf\"", unhealthy: true)
        // Killed after the automatic rollback switched current back to V1, before the state was put back.
        let killed = try ivpackKilledAtFailpoint(
            ["install", b2, "--trust", f.signed.pki.trustPolicy, "--root", f.root],
            failpoint: "install-rollback-after-switch")
        #expect(killed.killedBySignal, "\(killed.stderr)")
        #expect(Self.read(f.root + "/state/etc/site.conf") == "port = 1\n")
        // The next run (prune changes nothing else) finishes the rollback: the state as V1 left it.
        let r = ivpack(["prune", "--root", f.root])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("was completed"), "\(r.stdout)")
        try InstallTests.expectConsistent(f, active: Self.v1)
        #expect(Self.tree(f.root + "/state") == before)
    }

    @Test func aKillDuringTheHealthCheckLeavesTheNewReleaseActiveAndSaysItsCheckDidNotRun() throws {
        let f = try InstallFixture()
        #expect(install(f, try Self.bundle(f, Self.v1)).status == 0)
        let killed = try ivpackKilledAtFailpoint(
            ["install", try Self.bundle(f, Self.v2), "--trust", f.signed.pki.trustPolicy, "--root", f.root],
            failpoint: "install-in-health-check")
        #expect(killed.killedBySignal, "\(killed.stderr)")
        // The switch was done and recorded: V2 is active, complete; its health check has no result.
        try InstallTests.expectConsistent(f, active: Self.v2)
        let status = ivpack(["status", "--root", f.root])
        #expect(status.stdout.contains("Health:   not run for the active release"), "\(status.stdout)")
        // Nothing is pending: the next run has nothing to mend, and a rollback works.
        #expect(try Installer.status(root: f.root, check: false).state.pending == nil)
        #expect(ivpack(["rollback", "--root", f.root, "--reason", "health unknown"]).status == 0)
        try InstallTests.expectConsistent(f, active: Self.v1)
    }

    @Test func aKillInsideAPreRollbackHookIsAbandonedByTheNextRun() throws {
        let f = try InstallFixture()
        #expect(install(f, try Self.bundle(f, Self.v1)).status == 0)
        let preRollback = "  preRollback:\n    run: [service/hooks/pre-rollback]\n    timeout: 5s"
        let b2 = try Self.bundle(
            f, Self.v2, moreHooks: preRollback,
            more: [("service/hooks/pre-rollback", "#!/bin/sh\necho stopping\nsleep 600\n", 0o755)])
        #expect(install(f, b2).status == 0)
        let v2 = try Installer.status(root: f.root, check: false).state.active!
        let before = Self.tree(f.root + "/state")
        let killed = try ivpackKilledAtFailpoint(
            ["rollback", "--root", f.root, "--reason", "test"], failpoint: "rollback-in-hook")
        #expect(killed.killedBySignal, "\(killed.stderr)")
        let pending = try #require(try Installer.status(root: f.root, check: false).state.pending)
        #expect(pending.action == "rollback" && pending.from == v2)
        let r = ivpack(["prune", "--root", f.root])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("stopped the hook the interrupted rollback left running"), "\(r.stdout)")
        #expect(r.stdout.contains("was undone"), "\(r.stdout)")
        try InstallTests.expectConsistent(f, active: Self.v2)
        #expect(Self.tree(f.root + "/state") == before)
        #expect(try Installer.status(root: f.root, check: false).state.history.last?.action == "abandon")
    }

    // MARK: - Prune

    @Test func pruneKeepsTheNewestAndNeverTheActiveOrPreviousRelease() throws {
        let f = try InstallFixture()
        for version in [Self.v1, Self.v2, Self.v3] {
            #expect(install(f, try Self.bundle(f, version)).status == 0)
        }
        // Roll back to V1: V1 active, V3 previous; V2 is the only one prune may remove.
        #expect(ivpack(["rollback", "--root", f.root, "--to", Self.v1, "--reason", "test"]).status == 0)
        let before = try Installer.status(root: f.root, check: false).state
        let v2 = try #require(before.releases.first { $0.version == Self.v2 }).name
        #expect(FileManager.default.fileExists(atPath: f.root + "/.ivpack/snapshots/\(v2)"))
        let audit = f.work.url("audit.jsonl")
        let r = ivpack(["prune", "--root", f.root, "--keep", "2"], environment: ["IVPACK_AUDIT_LOG": audit])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("Removed: \(v2) (\(Self.v2))"), "\(r.stdout)")
        let after = try Installer.status(root: f.root, check: true)
        #expect(after.state.releases.map(\.version).sorted() == [Self.v1, Self.v3])
        #expect(after.state.active == before.active && after.state.previous == before.previous)
        #expect(after.drift?.clean == true)
        #expect(!f.releaseFolderNames().contains { $0.hasPrefix(v2) }, "\(f.releaseFolderNames())")
        #expect(!FileManager.default.fileExists(atPath: f.root + "/.ivpack/snapshots/\(v2)"))
        #expect(after.state.history.last?.action == "prune")
        #expect(Self.read(audit)?.contains("\"command\":\"ivpack prune remove\"") == true)
        // Nothing more to remove, and --keep below 2 is refused.
        #expect(ivpack(["prune", "--root", f.root]).stdout.contains("Nothing to remove"))
        #expect(ivpack(["prune", "--root", f.root, "--keep", "1"]).status == 64)
    }
}
