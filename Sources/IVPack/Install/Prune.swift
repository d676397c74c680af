/// What `prune` removed and kept.
public struct PruneOutcome: Sendable {
    public var removed: [InstalledState.Release]
    public var kept: [InstalledState.Release]
    public var reconciled: [String]
}

extension Installer {
    /// Removes kept releases beyond the newest `keep` (counting the active and the previous one,
    /// which are never removed), with their manifests and state snapshots. The state record drops
    /// them first, then the folders go: a crash in between leaves folders nobody records, which
    /// the next run removes.
    public static func prune(
        root path: String, keep: Int, now: Int64 = Timestamp.now(), events: InstallEventSink? = nil
    ) throws(InstallError) -> PruneOutcome {
        let user = InstallRoot.currentUser()
        let root = try InstallRoot(path: path, create: false)
        let notes = try root.reconcile(user: user, now: now)
        var state = root.state
        let protected = Set([state.active, state.previous].compactMap { $0 })
        // Newest first: the state lists releases in the order installed.
        var kept: [InstalledState.Release] = state.releases.filter { protected.contains($0.name) }
        var removed: [InstalledState.Release] = []
        for release in state.releases.reversed() where !protected.contains(release.name) {
            if kept.count < keep { kept.append(release) } else { removed.append(release) }
        }
        guard !removed.isEmpty else { return PruneOutcome(removed: [], kept: kept, reconciled: notes) }
        let names = Set(removed.map(\.name))
        state.releases.removeAll { names.contains($0.name) }
        for release in removed {
            state.record(
                .init(
                    action: "prune", release: release.name, from: nil, at: Timestamp.iso8601(now), by: user,
                    reason: "keep \(keep)"))
        }
        try root.write(state)
        let snapshots = try root.snapshots()
        for release in removed {
            try InstallError.mapping {
                try root.releases.removeTree(release.name)
                try root.releases.removeTree(release.name + InstallRoot.manifestSuffix)
                try snapshots.removeTree(release.name)
            }
            events?(InstallEvent(action: "remove", parameters: ["release=\(release.name)", "keep=\(keep)"], result: 0))
        }
        try InstallError.mapping { try root.releases.sync() }
        return PruneOutcome(
            removed: removed,
            kept: state.releases.filter { r in kept.contains { $0.name == r.name } }, reconciled: notes)
    }
}
