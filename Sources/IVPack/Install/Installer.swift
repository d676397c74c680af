import Foundation

/// What `install` is asked to do.
public struct InstallRequest: Sendable {
    public var bundlePath: String
    public var root: String
    public var policy: TrustPolicy
    /// Install a version below the active one; needs `reason`.
    public var allowDowngrade = false
    /// Why (recorded in the state with the release and the event).
    public var reason: String?
    public var now: Int64 = Timestamp.now()
    public var probe: any SystemProbe = LiveSystem()
    public var hashWorkers = ProcessInfo.processInfo.activeProcessorCount
    public var progress: ProgressHandler?

    public init(bundlePath: String, root: String, policy: TrustPolicy) {
        self.bundlePath = bundlePath
        self.root = root
        self.policy = policy
    }
}

/// What `install` did.
public struct InstallOutcome: Sendable {
    /// Verify's checks, the payload's included (checked while extracting).
    public var report: VerifyReport
    /// The release now active.
    public var release: InstalledState.Release
    /// The release active before, if any.
    public var previous: String?
    /// The bundle's manifest was already the active release: nothing was written.
    public var alreadyActive: Bool
    /// What was mended first after an interrupted run (leftovers removed, state reconciled).
    public var reconciled: [String]
    /// `ROOT/releases/NAME`.
    public var releaseFolder: String
}

/// What `rollback` did.
public struct RollbackOutcome: Sendable {
    public var from: InstalledState.Release
    public var to: InstalledState.Release
    public var reconciled: [String]
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

    /// Installs the bundle under `request.root` and makes it the active release.
    ///
    /// Order, each step durable before the next: verify's checks (nothing written if any fails);
    /// under the lock, leftovers of an interrupted run removed and the state reconciled with
    /// `current`; anti-downgrade against the active release; the payload extracted into
    /// `releases/NAME.staging` while every chunk is hashed, the file system flushed; the manifest
    /// written beside it; `.staging` renamed to `releases/NAME`; the release recorded in the state;
    /// `current` switched by `rename(2)`; the state's active and previous recorded.
    public static func install(_ request: InstallRequest) throws(InstallError) -> InstallOutcome {
        let verified = try PayloadExtractor.verifyFirst(
            bundlePath: request.bundlePath, policy: request.policy, now: request.now, probe: request.probe)
        let manifest = verified.bundle.manifest
        let digest = verified.bundle.manifestDigest
        let name = ReleaseName.make(version: manifest.version, manifestDigest: digest)
        let user = InstallRoot.currentUser()
        let root = try InstallRoot(path: request.root, create: true)
        let notes = try root.reconcile(user: user, now: request.now)
        var report = verified.report
        let previous = root.state.activeRelease

        if let active = previous {
            if active.manifestSHA256 == digest {
                report.checks.insert(
                    Check(
                        .payload, status: .pass,
                        details: ["not extracted: this manifest is the active release \(active.name)"]),
                    at: min(2, report.checks.count))
                return InstallOutcome(
                    report: report, release: active, previous: root.state.previous, alreadyActive: true,
                    reconciled: notes, releaseFolder: root.releases.child(active.name))
            }
            if active.product != manifest.product.name {
                throw .otherProduct(
                    root: request.root, installed: "\(active.product) \(active.version)",
                    bundle: "\(manifest.product.name) \(manifest.version)")
            }
            let order = Self.order(manifest.version, active.version)
            if order == nil || order! < 0, !(request.allowDowngrade && request.reason != nil) {
                throw .downgradeRefused(active: active.version, requested: manifest.version, comparable: order != nil)
            }
        }
        let isDowngrade = previous.map { Self.order(manifest.version, $0.version).map { $0 < 0 } ?? true } ?? false

        // The payload, checked while it is written into the staging folder.
        let stagingName = name + InstallRoot.stagingSuffix
        let payload: Check
        do {
            payload = try InstallError.mapping { () throws -> Check in
                let staging = try root.releases.newFolder(stagingName)
                let check = try PayloadExtractor.extract(
                    verified, into: staging, hashWorkers: request.hashWorkers, progress: request.progress)
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
        try root.write(state)
        Failpoint.reach("install-before-switch")

        try root.switchCurrent(to: name)
        Failpoint.reach("install-after-switch")

        state.previous = state.active
        state.active = name
        state.record(
            .init(
                action: "install", release: name, from: previous?.name, at: Timestamp.iso8601(request.now), by: user,
                reason: request.reason))
        try root.write(state)
        return InstallOutcome(
            report: report, release: release, previous: previous?.name, alreadyActive: false, reconciled: notes,
            releaseFolder: root.releases.child(name))
    }

    /// Makes a kept release active again: the previous one, or the most recently installed kept
    /// release of `version`. A switch of `current`, never a copy; `reason` is recorded.
    public static func rollback(
        root path: String, toVersion version: String?, reason: String,
        now: Int64 = Timestamp.now()
    ) throws(InstallError) -> RollbackOutcome {
        let user = InstallRoot.currentUser()
        let root = try InstallRoot(path: path, create: false)
        let notes = try root.reconcile(user: user, now: now)
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
        try root.switchCurrent(to: target.name)
        Failpoint.reach("rollback-after-switch")
        state.previous = active.name
        state.active = target.name
        state.record(
            .init(
                action: "rollback", release: target.name, from: active.name, at: Timestamp.iso8601(now), by: user,
                reason: reason))
        try root.write(state)
        return RollbackOutcome(from: active, to: target, reconciled: notes)
    }
}
