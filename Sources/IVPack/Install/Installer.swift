import Foundation

/// What `install` is asked to do.
public struct InstallRequest: Sendable {
    public var bundlePath: String
    /// The install root; nil: the release's own `install.root`.
    public var root: String?
    public var policy: TrustPolicy
    /// Install a version below the active one; needs `reason`.
    public var allowDowngrade = false
    /// Why (recorded in the state with the release and the event).
    public var reason: String?
    public var now: Int64 = Timestamp.now()
    public var probe: any SystemProbe = LiveSystem()
    public var hashWorkers = ProcessInfo.processInfo.activeProcessorCount
    public var progress: ProgressHandler?
    /// Who installs, for the state; nil: the installer the licence server authenticated over
    /// mutual TLS (with the OS user) when the licence was asked online, else the OS user.
    public var installer: String?
    /// Told each step as it is done (the audit log's events).
    public var events: InstallEventSink?
    /// Environment requirements the site accepts unchecked (`--accept-unchecked`), with the reason.
    public var acceptUnchecked: [UncheckedAcceptance] = []
    /// Where the content key of an encrypted bundle may come from, tried in order (a key the
    /// licence server releases comes after these).
    public var contentKeys: [ContentKeySource] = []

    public init(bundlePath: String, root: String?, policy: TrustPolicy) {
        self.bundlePath = bundlePath
        self.root = root
        self.policy = policy
    }
}

/// One step of an install, a rollback or a prune, for the audit log: `switch`, `hook`,
/// `health-check`, `snapshot`, `restore`, `rollback`, `abandon`, `prune`, `reconcile`.
public struct InstallEvent: Sendable, Equatable {
    public var action: String
    /// `key=value` facts: release, from, hook, outcome, reason.
    public var parameters: [String]
    /// 0 when the step did what it should, 1 when it failed.
    public var result: Int32
}

public typealias InstallEventSink = @Sendable (InstallEvent) -> Void

/// Why an install or a rollback that ran to its end did not leave the release it aimed at healthy
/// and active.
public enum InstallFailure: Sendable, Equatable {
    /// A hook before the switch (preInstall, postInstall, preRollback) failed: the change was
    /// abandoned, the site's state restored; the active release is as it was.
    case hook(HookRun)
    /// The health check after the switch failed. Install: rolled back automatically to
    /// `rolledBackTo` (nil: it was the first install, and the root is empty again). Rollback:
    /// nothing more is done (nil).
    case healthCheck(HookRun, rolledBackTo: String?)

    /// 3 for a hook that failed before the switch (the site could not be configured), 1 for a
    /// failed health check (the release was refused).
    public var exitStatus: ExitStatus {
        switch self {
        case .hook: return .environment
        case .healthCheck: return .checkFailed
        }
    }

    public var description: String {
        switch self {
        case .hook(let run):
            return
                "the \(run.hook.rawValue) hook (\(run.command.joined(separator: " "))) of \(run.release) \(run.outcome); the change was abandoned and the site's state restored: the active release is as it was"
        case .healthCheck(let run, let back):
            let what =
                back.map { "rolled back automatically to \($0), with the site's state as it left it" }
                ?? "no earlier release to go back to"
            return
                "the health check (\(run.command.joined(separator: " "))) of \(run.release) \(run.outcome); \(what)"
        }
    }
}

/// What `install` did.
public struct InstallOutcome: Sendable {
    /// Verify's checks, the payload's included (checked while extracting), then each install step.
    public var report: VerifyReport
    /// The release installed (active unless `failure` says otherwise).
    public var release: InstalledState.Release
    /// The release active before, if any.
    public var previous: String?
    /// The bundle's manifest was already the active release: nothing was written.
    public var alreadyActive: Bool
    /// What was mended first after an interrupted run (leftovers removed, state reconciled).
    public var reconciled: [String]
    /// `ROOT/releases/NAME`.
    public var releaseFolder: String
    /// The hooks run, in order.
    public var hooks: [HookRun] = []
    /// The snapshot of the site's state taken before the hooks: its name and what it holds.
    public var snapshot: (name: String, summary: String)?
    /// Set when a hook or the health check failed (the report says the same).
    public var failure: InstallFailure?
    /// The bundle's manifest, as verified: for the report, which would otherwise read it again
    /// (4.4 MB for 20,000 files, twice: vendor and components; seen as install at 1.33x tar+sync
    /// and 70 MiB peak in Benchmarks/install.sh).
    public var manifest: Manifest?
}

/// What `rollback` did.
public struct RollbackOutcome: Sendable {
    public var from: InstalledState.Release
    public var to: InstalledState.Release
    public var reconciled: [String]
    /// The hooks run, in order.
    public var hooks: [HookRun] = []
    /// The site's state: what was put back, or why nothing was.
    public var state: String?
    /// Set when a hook failed: preRollback (nothing switched) or the health check (switched).
    public var failure: InstallFailure?
}

/// Which audit parameters a hook run gives.
extension HookRun {
    var eventParameters: [String] {
        ["hook=\(hook.rawValue)", "release=\(release)", "run=\(command.joined(separator: " "))", "outcome=\(outcome)"]
    }
}

/// Installation on the target (issue 15, draft standard 5.2.2 and 6.3.2): verify-while-extract
/// into a staging folder, an atomic switch of `current`, the installed state recorded under the
/// root's lock, anti-downgrade from that state, and rollback as a switch back. See
/// docs/installation.md for the layout and the crash-safety argument.
public enum Installer {
    /// How release version `a` compares with `b` (-1, 0, 1); nil when either is not a release version.
    static func order(_ a: String, _ b: String) -> Int? {
        guard let a = ReleaseVersion(a), let b = ReleaseVersion(b) else { return nil }
        return a.compare(to: b)
    }

    /// Installs the bundle under `request.root` and makes it the active release (see
    /// `proceed` for the order of the steps).
    public static func install(_ request: InstallRequest) throws(InstallError) -> InstallOutcome {
        let verified = try PayloadExtractor.verifyFirst(
            bundlePath: request.bundlePath, policy: request.policy, now: request.now, probe: request.probe,
            accepting: request.acceptUnchecked)
        return try proceed(verified, request, key: try contentKey(verified, request))
    }

    /// The content key of an encrypted bundle from the request's sources, before anything is written.
    static func contentKey(_ verified: PayloadExtractor.Verified, _ request: InstallRequest) throws(InstallError)
        -> (key: ContentKey, origin: String)?
    {
        do {
            return try ContentKeyResolver.resolveWithOrigin(verified.bundle, sources: request.contentKeys)
        } catch {
            throw .contentKey(bundle: error.bundle, problem: error.problem, hint: error.hint)
        }
    }

    /// Installs as `install(_:)` does, once `license` has licensed this very manifest (asked after
    /// verify's checks passed, before anything is written): a refusal is a failed `license` check,
    /// and nothing is written.
    public static func install(
        _ request: InstallRequest, license: any LicenseAuthority
    ) async throws(InstallError) -> InstallOutcome {
        var verified = try PayloadExtractor.verifyFirst(
            bundlePath: request.bundlePath, policy: request.policy, now: request.now, probe: request.probe,
            accepting: request.acceptUnchecked)
        let manifest = verified.bundle.manifest
        let subject = LicenseSubject(
            product: manifest.product.name, version: manifest.version, manifestSHA256: verified.bundle.manifestDigest)
        // An encrypted bundle without a key of the site's own: the licence server releases it
        // with the grant (wrapped to the installer's client certificate), or the licence is
        // refused with the reason; nothing is written either way before this point.
        var request = request
        let decision: LicenseDecision
        if let encryption = manifest.encryption, request.contentKeys.isEmpty {
            let release = await license.decideReleasingKey(subject, keyCheckValue: encryption.keyCheck)
            decision = release.decision
            if let key = release.contentKey {
                request.contentKeys = [.key(key, from: "the licence grant")]
            }
        } else {
            decision = await license.decide(subject)
        }
        let check = LicenseRequirement(title: license.checkTitle, decision: decision).check
        verified.report.checks.append(check)
        guard check.status != .fail else { throw .verificationFailed(verified.report) }
        // The installer is who the licence server authenticated over mutual TLS and named in the
        // grant it signed (as the IQ report says); an offline licence file authenticates no one.
        if request.installer == nil, check.evidence.contains(where: { $0.key == "server" }),
            let installer = check.evidence.first(where: { $0.key == "installer" })?.value, !installer.isEmpty
        {
            request.installer = "\(installer) (OS user \(AuditLog.currentOperator()))"
        }
        return try proceed(verified, request, key: try contentKey(verified, request))
    }

    /// Order, each step durable before the next: under the lock, leftovers of an interrupted run
    /// removed and the state reconciled with `current`; anti-downgrade against the active release;
    /// the payload extracted into `releases/NAME.staging` while every chunk is hashed, the file
    /// system flushed; the manifest written beside it; `.staging` renamed to `releases/NAME`; the
    /// release and the change in progress recorded; the site's state snapshotted; preInstall and
    /// postInstall; `current` switched by `rename(2)`; the state's active and previous recorded;
    /// the health check, and on its failure the automatic rollback.
    static func proceed(
        _ verified: PayloadExtractor.Verified, _ request: InstallRequest,
        key: (key: ContentKey, origin: String)? = nil
    ) throws(InstallError) -> InstallOutcome {
        let manifest = verified.bundle.manifest
        let digest = verified.bundle.manifestDigest
        let name = ReleaseName.make(version: manifest.version, manifestDigest: digest)
        let user = request.installer ?? InstallRoot.currentUser()
        let emit = { (action: String, parameters: [String], ok: Bool) in
            request.events?(InstallEvent(action: action, parameters: parameters, result: ok ? 0 : 1))
        }
        guard let rootPath = request.root ?? manifest.install?.root else {
            throw .badRoot(
                path: request.bundlePath,
                problem:
                    "the release names no install root (install.root of its spec): give one with --root, e.g. --root /opt/VENDOR/PRODUCT"
            )
        }
        let root = try InstallRoot(path: rootPath, create: true)
        let notes = try root.reconcile(user: user, now: request.now)
        for note in notes { emit("reconcile", ["note=\(note)"], true) }
        var report = verified.report
        let previous = root.state.activeRelease

        if let active = previous {
            if active.manifestSHA256 == digest {
                // Nothing of the payload was read: the check did not run, so it cannot say pass.
                report.checks.insert(
                    Check(
                        .payload, status: .warn,
                        details: [
                            "not run: this manifest is the active release \(active.name), so nothing was read or written; `ivpack status --check` re-hashes the installed tree"
                        ]),
                    at: min(2, report.checks.count))
                return InstallOutcome(
                    report: report, release: active, previous: root.state.previous, alreadyActive: true,
                    reconciled: notes, releaseFolder: root.releases.child(active.name), manifest: manifest)
            }
            if active.product != manifest.product.name {
                throw .otherProduct(
                    root: rootPath, installed: "\(active.product) \(active.version)",
                    bundle: "\(manifest.product.name) \(manifest.version)")
            }
            let order = Self.order(manifest.version, active.version)
            if order == nil || order! < 0, !(request.allowDowngrade && request.reason != nil) {
                throw .downgradeRefused(active: active.version, requested: manifest.version, comparable: order != nil)
            }
        }
        let isDowngrade = previous.map { Self.order(manifest.version, $0.version).map { $0 < 0 } ?? true } ?? false
        // The state paths to keep: this release's and the one it replaces (whose manifest says
        // which paths it wrote).
        var previousPaths: [String] = []
        if let previous { previousPaths = try root.manifest(of: previous.name).install?.state ?? [] }
        let statePaths = StateStore.union(previousPaths, manifest.install?.state ?? [])

        // The payload, checked while it is written into the staging folder.
        let stagingName = name + InstallRoot.stagingSuffix
        let payload: Check
        do {
            payload = try InstallError.mapping { () throws -> Check in
                let staging = try root.releases.newFolder(stagingName)
                let check = try PayloadExtractor.extract(
                    verified, into: staging, hashWorkers: request.hashWorkers, key: key?.key, keyOrigin: key?.origin,
                    progress: request.progress)
                // Every file and folder of the release on stable storage before it can be activated.
                try staging.syncFileSystem()
                return check
            }
        } catch {
            try? root.releases.removeTree(stagingName)
            throw error
        }
        report.checks.insert(payload, at: min(2, report.checks.count))

        // The manifest beside the release, then the release in place. A kept release of the same
        // manifest (installed again after a rollback) is replaced by the bytes just checked.
        let wasKept = root.state.release(named: name) != nil
        do {
            try InstallError.mapping { () throws -> Void in
                let manifestName = name + InstallRoot.manifestSuffix
                let temporary = manifestName + ".tmp-\(getpid())"
                try root.releases.removeTree(temporary)
                let out = try root.releases.newFile(temporary, mode: 0o644)
                try verified.bundle.manifestBytes.withUnsafeBytes { try out.append($0) }
                guard fsync(out.fd) == 0 else {
                    throw FileSystemError(operation: "flush to disk", path: out.path, code: errno, isInput: false)
                }
                try root.releases.rename(temporary, to: manifestName)
                if root.releases.status(name) != nil {
                    try root.releases.rename(name, to: name + InstallRoot.discardSuffix)
                }
                try root.releases.rename(stagingName, to: name)
                try root.releases.sync()
                try root.releases.removeTree(name + InstallRoot.discardSuffix)
            }
        } catch {
            try? root.releases.removeTree(stagingName)
            throw error
        }
        let releaseFolder = root.releases.child(name)

        let signers = verified.report.checks.filter { $0.id.rawValue.hasPrefix("signature.") && $0.status != .fail }
            .compactMap { check -> InstalledState.Signer? in
                guard let subject = check.evidence.first(where: { $0.key == "signer" })?.value else { return nil }
                return .init(role: check.evidence.first(where: { $0.key == "roles" })?.value ?? "", subject: subject)
            }
        let release = InstalledState.Release(
            name: name, product: manifest.product.name, version: manifest.version, manifestSHA256: digest,
            signers: signers, installedAt: Timestamp.iso8601(request.now), installedBy: user,
            downgradeReason: isDowngrade ? request.reason : nil)
        var state = root.state
        state.releases.removeAll { $0.name == name }
        state.releases.append(release)
        state.pending = .init(
            action: "install", release: name, from: previous?.name, newRelease: !wasKept, snapshot: nil)
        try root.write(state)
        report.checks.append(
            Check(
                .installRelease, status: .pass,
                details: ["\(releaseFolder): written from the bytes checked, flushed to disk"],
                evidence: [("release", name), ("folder", releaseFolder)]))
        var outcome = InstallOutcome(
            report: report, release: release, previous: previous?.name, alreadyActive: false, reconciled: notes,
            releaseFolder: releaseFolder, manifest: manifest)

        // From here until the switch, a failure undoes the install: the state put back, the new
        // release removed (the same as a reconcile does after a crash here).
        let snapshotName = previous?.name ?? StateStore.initialSnapshot
        let context = HookContext(
            action: "install", product: manifest.product.name, version: manifest.version, release: name,
            releaseFolder: releaseFolder, previousVersion: previous?.version,
            previousFolder: previous.map { root.releases.child($0.name) }, root: root.path,
            stateFolder: root.root.child(StateStore.stateFolder))
        do throws(InstallError) {
            // The site's state as the active release leaves it: what an undo or a rollback puts back.
            if !statePaths.isEmpty {
                let summary = try root.snapshotState(statePaths, name: snapshotName)
                state.pending?.snapshot = snapshotName
                try root.write(state)
                outcome.snapshot = (snapshotName, summary.text)
                outcome.report.checks.append(
                    Check(
                        .installSnapshot, status: .pass,
                        details: ["\(statePaths.joined(separator: ", ")): \(summary.text)"],
                        evidence: [
                            ("snapshot", root.metadata.child(StateStore.snapshotsFolder + "/" + snapshotName)),
                            ("paths", statePaths.joined(separator: ", ")),
                        ]))
                emit("snapshot", ["release=\(snapshotName)", "paths=\(statePaths.joined(separator: ","))"], true)
            }

            for hook in [InstallSpec.HookName.preInstall, .postInstall] {
                guard
                    let run = try runHook(
                        hook, of: manifest, release: name, folder: releaseFolder, context: context, root: root,
                        state: &state, failpoint: "install-in-hook")
                else { continue }
                outcome.hooks.append(run)
                outcome.report.checks.append(run.check)
                emit("hook", run.eventParameters, run.passed)
                if !run.passed {
                    try abandon(
                        root: root, state: &state, user: user, now: request.now, reason: "\(hook.rawValue) failed")
                    emit("abandon", ["release=\(name)", "reason=the \(hook.rawValue) hook failed"], true)
                    outcome.failure = .hook(run)
                    return outcome
                }
            }
        } catch {
            try? abandon(root: root, state: &state, user: user, now: request.now, reason: "\(error)")
            throw error
        }

        Failpoint.reach("install-before-switch")
        try root.switchCurrent(to: name)
        Failpoint.reach("install-after-switch")
        state.previous = state.active
        state.active = name
        state.pending = nil
        state.record(
            .init(
                action: "install", release: name, from: previous?.name, at: Timestamp.iso8601(request.now), by: user,
                reason: request.reason))
        try root.write(state)
        outcome.report.checks.append(
            Check(
                .installSwitch, status: .pass,
                details: [
                    "\(root.root.child(InstallRoot.currentLink)) -> \(InstallRoot.releasesFolder)/\(name)"
                        + (previous.map { " (was \(InstallRoot.releasesFolder)/\($0.name))" } ?? "")
                ], evidence: [("active", name), ("previous", previous?.name ?? "none")]))
        emit("switch", ["release=\(name)", "from=\(previous?.name ?? "none")"], true)

        guard
            let health = try runHook(
                .healthCheck, of: manifest, release: name, folder: releaseFolder, context: context,
                root: root, state: &state, failpoint: "install-in-health-check")
        else {
            outcome.report.checks.append(
                Check(
                    .installHealthCheck, status: .warn,
                    details: ["not run: the release defines no healthCheck hook (install.hooks.healthCheck)"]))
            try dropInitialSnapshot(root, snapshotName)
            return outcome
        }
        outcome.hooks.append(health)
        outcome.report.checks.append(health.check)
        state.record(
            .init(
                action: "health-check", release: name, from: nil, at: Timestamp.iso8601(Timestamp.now()), by: user,
                reason: health.outcome, result: health.passed ? "pass" : "fail"))
        try root.write(state)
        emit("health-check", health.eventParameters, health.passed)
        guard !health.passed else {
            try dropInitialSnapshot(root, snapshotName)
            return outcome
        }

        // The health check failed: back to the release that was active, with its state.
        let reason = "automatic: the health check of \(name) \(health.outcome)"
        if let previous {
            state.pending = .init(
                action: "rollback", release: previous.name, from: name, newRelease: false,
                snapshot: statePaths.isEmpty ? nil : snapshotName)
            try root.write(state)
            try root.switchCurrent(to: previous.name)
            Failpoint.reach("install-rollback-after-switch")
            let restored = try root.restoreState(from: previous.name)
            state.active = previous.name
            state.previous = name
            state.pending = nil
            state.record(
                .init(
                    action: "rollback", release: previous.name, from: name, at: Timestamp.iso8601(Timestamp.now()),
                    by: user, reason: reason))
            try root.write(state)
            outcome.report.checks.append(
                Check(
                    .installRollback, status: .pass,
                    details: [
                        "current -> \(InstallRoot.releasesFolder)/\(previous.name) again",
                        restored.map { "the site's state restored from the snapshot: \($0.summary.text)" }
                            ?? "no state paths: nothing to restore",
                    ], evidence: [("active", previous.name), ("reason", reason)]))
            emit("rollback", ["release=\(previous.name)", "from=\(name)", "reason=\(reason)"], true)
            outcome.failure = .healthCheck(health, rolledBackTo: previous.name)
        } else {
            // The first release under this root: there is nothing to switch back to, so current goes.
            state.active = nil
            state.previous = nil
            state.pending = .init(
                action: "install", release: name, from: nil, newRelease: !wasKept,
                snapshot: statePaths.isEmpty ? nil : snapshotName)
            try root.write(state)
            try InstallError.mapping {
                try root.root.removeTree(InstallRoot.currentLink)
                try root.root.sync()
            }
            try abandon(root: root, state: &state, user: user, now: Timestamp.now(), reason: reason)
            outcome.report.checks.append(
                Check(
                    .installRollback, status: .pass,
                    details: [
                        "the first release under this root: current removed, the release removed, the site's state as before the install"
                    ], evidence: [("active", "none"), ("reason", reason)]))
            emit("abandon", ["release=\(name)", "reason=\(reason)"], true)
            outcome.failure = .healthCheck(health, rolledBackTo: nil)
        }
        return outcome
    }

    /// Runs one hook with the crash record kept: the hook's process in the pending change while it
    /// runs (so that a reconcile after a crash stops that process), and `failpoint` reached once it
    /// runs. Nil when the release has no such hook.
    static func runHook(
        _ hook: InstallSpec.HookName, of manifest: Manifest?, release: String, folder: String, context: HookContext,
        root: InstallRoot, state: inout InstalledState, failpoint: String
    ) throws(InstallError) -> HookRun? {
        guard manifest?.install?.hooks[hook] != nil else { return nil }
        var recordError: InstallError?
        var recorded = state
        let run = Hooks.run(hook, of: manifest, release: release, releaseFolder: folder, context: context) { pid in
            if recorded.pending != nil {
                recorded.pending?.hookProcess = pid
                recorded.pending?.hookStarted = Hooks.startTime(of: pid)
                do throws(InstallError) { try root.write(recorded) } catch { recordError = error }
            }
            Failpoint.reach(failpoint)
        }
        if let recordError { throw recordError }
        if state.pending != nil {
            state.pending?.hookProcess = nil
            state.pending?.hookStarted = nil
            try root.write(state)
        }
        return run
    }

    /// Undoes the pending install (before its switch, or after it for a first install whose health
    /// check failed, once `current` is gone): the site's state restored from the snapshot, the release removed if this
    /// install made it, the change recorded as abandoned.
    static func abandon(
        root: InstallRoot, state: inout InstalledState, user: String, now: Int64, reason: String
    ) throws(InstallError) {
        guard let pending = state.pending else { return }
        try undo(pending, root: root, state: &state)
        state.pending = nil
        state.record(
            .init(
                action: "abandon", release: pending.release, from: pending.from, at: Timestamp.iso8601(now), by: user,
                reason: reason))
        try root.write(state)
    }

    /// The state-restoring and folder-removing half of an abandoned install (also run by reconcile).
    static func undo(_ pending: InstalledState.Pending, root: InstallRoot, state: inout InstalledState)
        throws(InstallError)
    {
        if let snapshot = pending.snapshot { _ = try root.restoreState(from: snapshot) }
        if pending.newRelease {
            try InstallError.mapping {
                try root.releases.removeTree(pending.release)
                try root.releases.removeTree(pending.release + InstallRoot.manifestSuffix)
            }
            state.releases.removeAll { $0.name == pending.release }
        }
        try dropInitialSnapshot(root, pending.snapshot)
    }

    /// The snapshot taken before a first install belongs to no release: removed once the install
    /// is done or undone.
    static func dropInitialSnapshot(_ root: InstallRoot, _ name: String?) throws(InstallError) {
        guard name == StateStore.initialSnapshot else { return }
        let snapshots = try root.snapshots()
        try InstallError.mapping { try snapshots.removeTree(StateStore.initialSnapshot) }
    }

    /// Makes a kept release active again: the previous one, or the most recently installed kept
    /// release of `version`. A switch of `current`, never a copy of the release; the site's state
    /// is snapshotted as the active release leaves it and put back as `version` left it; `reason`
    /// is recorded. Hooks: the active release's preRollback before anything changes (its failure
    /// abandons the rollback), the target's postRollback and healthCheck after the switch.
    public static func rollback(
        root path: String, toVersion version: String?, reason: String,
        now: Int64 = Timestamp.now(), events: InstallEventSink? = nil
    ) throws(InstallError) -> RollbackOutcome {
        let user = InstallRoot.currentUser()
        let emit = { (action: String, parameters: [String], ok: Bool) in
            events?(InstallEvent(action: action, parameters: parameters, result: ok ? 0 : 1))
        }
        let root = try InstallRoot(path: path, create: false)
        let notes = try root.reconcile(user: user, now: now)
        for note in notes { emit("reconcile", ["note=\(note)"], true) }
        var state = root.state
        guard let active = state.activeRelease else { throw .notInstalled(root: path) }
        let target: InstalledState.Release
        if let version {
            let kept = state.releases.filter { $0.version == version && $0.name != active.name }
            guard let newest = kept.last else {
                let others = state.releases.filter { $0.name != active.name }.map(\.version)
                throw .noRollbackTarget(
                    root: path,
                    problem: active.version == version
                        ? "\(version) is the active release already"
                        : "no kept release has version \(version); kept: \(others.isEmpty ? "none" : others.joined(separator: ", "))"
                )
            }
            target = newest
        } else {
            guard let previous = state.previousRelease else {
                throw .noRollbackTarget(
                    root: path,
                    problem:
                        "there is no previous release to roll back to (\(active.name) is the only one recorded); give --to VERSION for another kept release"
                )
            }
            target = previous
        }
        let activeManifest = try root.manifest(of: active.name)
        let targetManifest = try root.manifest(of: target.name)
        let statePaths = StateStore.union(
            activeManifest.install?.state ?? [], targetManifest.install?.state ?? [])
        var outcome = RollbackOutcome(from: active, to: target, reconciled: notes)
        state.pending = .init(action: "rollback", release: target.name, from: active.name, newRelease: false)
        try root.write(state)

        let context = HookContext(
            action: "rollback", product: target.product, version: target.version, release: target.name,
            releaseFolder: root.releases.child(target.name), previousVersion: active.version,
            previousFolder: root.releases.child(active.name), root: root.path,
            stateFolder: root.root.child(StateStore.stateFolder))
        if let run = try runHook(
            .preRollback, of: activeManifest, release: active.name, folder: root.releases.child(active.name),
            context: context, root: root, state: &state, failpoint: "rollback-in-hook")
        {
            outcome.hooks.append(run)
            emit("hook", run.eventParameters, run.passed)
            if !run.passed {
                state.pending = nil
                state.record(
                    .init(
                        action: "abandon", release: target.name, from: active.name, at: Timestamp.iso8601(now),
                        by: user, reason: "rollback abandoned: the preRollback hook \(run.outcome)"))
                try root.write(state)
                outcome.failure = .hook(run)
                return outcome
            }
        }
        if !statePaths.isEmpty {
            let summary = try root.snapshotState(statePaths, name: active.name)
            emit("snapshot", ["release=\(active.name)", "paths=\(statePaths.joined(separator: ","))"], true)
            outcome.state = "the state as \(active.name) leaves it kept: \(summary.text)"
        }
        try root.switchCurrent(to: target.name)
        Failpoint.reach("rollback-after-switch")
        if let restored = try root.restoreState(from: target.name) {
            outcome.state =
                "restored as \(target.name) left it (\(restored.paths.joined(separator: ", "))): \(restored.summary.text)"
            emit("restore", ["release=\(target.name)", "paths=\(restored.paths.joined(separator: ","))"], true)
        } else if !statePaths.isEmpty {
            outcome.state = "kept as it is: there is no snapshot of the state as \(target.name) left it"
        }
        state.previous = active.name
        state.active = target.name
        state.pending = nil
        state.record(
            .init(
                action: "rollback", release: target.name, from: active.name, at: Timestamp.iso8601(now), by: user,
                reason: reason))
        try root.write(state)
        emit("switch", ["release=\(target.name)", "from=\(active.name)", "reason=\(reason)"], true)

        for hook in [InstallSpec.HookName.postRollback, .healthCheck] {
            guard
                let run = try runHook(
                    hook, of: targetManifest, release: target.name, folder: root.releases.child(target.name),
                    context: context, root: root, state: &state, failpoint: "rollback-in-hook")
            else { continue }
            outcome.hooks.append(run)
            emit(hook == .healthCheck ? "health-check" : "hook", run.eventParameters, run.passed)
            if hook == .healthCheck {
                state.record(
                    .init(
                        action: "health-check", release: target.name, from: nil,
                        at: Timestamp.iso8601(Timestamp.now()), by: user, reason: run.outcome,
                        result: run.passed ? "pass" : "fail"))
                try root.write(state)
            }
            if !run.passed {
                outcome.failure = .healthCheck(run, rolledBackTo: nil)
                break
            }
        }
        return outcome
    }
}

extension HookRun {
    /// The hook as a check of the install's report.
    var check: Check {
        // Check IDs are lower case with hyphens (Schemas/verify-report.schema.json): install.hook.post-install.
        let kebab = hook.rawValue.reduce(into: "") { out, c in out += c.isUppercase ? "-" + c.lowercased() : String(c) }
        let id: CheckID = hook == .healthCheck ? .installHealthCheck : CheckID(rawValue: "install.hook.\(kebab)")
        return Check(
            id, title: hook == .healthCheck ? nil : "The release's \(hook.rawValue) hook ran and succeeded",
            status: passed ? .pass : .fail,
            details: ["\(command.joined(separator: " ")): \(outcome)"] + excerpt.map { "| \($0)" },
            evidence: [
                ("release", release), ("exit", status.map(String.init) ?? "none"),
                ("milliseconds", String(milliseconds)), ("timeoutSeconds", String(timeoutSeconds)),
            ])
    }
}
