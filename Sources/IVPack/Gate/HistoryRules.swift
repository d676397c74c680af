/// VER-008 to VER-011, VER-013 and NOTES-016 against the previous release (`--previous`): the
/// version is strictly greater, the build number increases, the bump level is the level the
/// change types require (neither under nor over), lower fields reset, no value is skipped, and a
/// version is never reused for other content.
public struct VersionHistoryRule: GateRule {
    /// A rule that runs only when a previous release is given.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["VER-008", "VER-009", "VER-010", "VER-011", "VER-013", "NOTES-016"] }

    /// Findings of the version step from the previous release.
    public func check(_ context: GateContext) -> [Finding] {
        guard let previous = context.previous else { return [] }
        let policy = context.policy
        let file = context.release.path
        let line = context.release.versionLine
        var findings: [Finding] = []
        guard let current = context.version.parsed else { return findings }
        guard
            let before = VersionNaming.check(
                previous.version, policy: policy, channel: context.channel, file: previous.path, line: nil
            ).parsed
        else {
            findings.append(
                Finding(
                    "VER-008", file: previous.path,
                    "the previous release's version \(previous.version) does not follow policy \(policy.name), so the step cannot be checked",
                    hint: "Give the bundle of the previous release made under this policy"))
            return findings
        }
        let order = current.compare(to: before)
        if order == 0 {
            let same =
                context.release.manifestDigest != nil && context.release.manifestDigest == previous.manifestDigest
            let contentChanged = context.diff?.components.contains { $0.status != .unchanged } ?? !same
            if contentChanged {
                findings.append(
                    Finding(
                        "VER-013", file: file, line: line,
                        "version \(current.text) is already released with other content (\(previous.path)); a version maps to exactly one content",
                        hint: "Give this release a new version; never rebuild or move a released version"))
            } else {
                findings.append(
                    Finding(
                        "VER-013", file: file, line: line,
                        "the previous release given is this very release (\(current.text), same content)",
                        hint: "Check against the release before this one", severity: .warn))
            }
            return findings
        }
        // The notes name the release before this one; a check against this same release skips it.
        if let notes = context.notes, let entry = notes.frontMatter("previous_released_version"),
            let value = entry.value,
            !GateText.isNone(value), value != previous.version
        {
            findings.append(
                Finding(
                    "NOTES-016", file: notes.file, line: entry.line,
                    "previous_released_version is \(value), but the previous release given (\(previous.path)) is \(previous.version)",
                    hint: "State the version this release follows, or check against that release's bundle"))
        }
        if order < 0 {
            findings.append(
                Finding(
                    "VER-008", file: file, line: line,
                    "version \(current.text) is not greater than the previous release \(before.text)",
                    hint: "Versions only increase: give this release a version above \(before.text)"))
            return findings
        }
        if policy.scheme == .nmpa && current.value(.build) <= before.value(.build) {
            findings.append(
                Finding(
                    "VER-008", file: file, line: line,
                    "build number \(current.value(.build)) is not greater than the previous release's \(before.value(.build)) (\(before.text))",
                    hint: "Take B from the global CI build counter: it never resets and always increases"))
        }
        guard let actual = ReleaseDiff.level(from: before, to: current, policy: policy) else { return findings }
        // Resets: an X bump zeroes Y and Z; a Y bump zeroes Z (B never resets).
        let lower: [BumpLevel] = actual == .major ? [.minor, .patch] : actual == .minor ? [.patch] : []
        let notReset = lower.filter { current.value($0) != 0 }
        if !notReset.isEmpty {
            findings.append(
                Finding(
                    "VER-010", file: file, line: line,
                    "\(before.text) → \(current.text) bumps \(actual.letter) without resetting \(notReset.map(\.letter).joined(separator: " and ")) to 0",
                    hint: "Write \(expected(before, current, actual, policy))"))
        }
        if actual != .build && current.value(actual) != before.value(actual) + 1 {
            findings.append(
                Finding(
                    "VER-011", file: file, line: line,
                    "\(before.text) → \(current.text) skips values of \(actual.letter) (\(before.value(actual)) → \(current.value(actual)))",
                    hint: "Increase a field by one; record the reason if values were skipped on purpose"))
        }
        if let required = context.requiredLevel, required != actual {
            let items = context.changes.filter { policy.level(of: $0.changeType) == required }.map {
                "\($0.id) (\($0.changeType))"
            }
            let wording = actual < required ? "under-classified" : "over-classified"
            findings.append(
                Finding(
                    "VER-009", file: file, line: line,
                    "\(before.text) → \(current.text) is a \(name(actual, policy)) step, but the change items require a \(name(required, policy)) step (\(items.prefix(5).joined(separator: ", "))): \(wording)",
                    hint:
                        "Bump exactly the field the highest change type requires (风险从高): \(expected(before, current, required, policy))"
                ))
        }
        return findings
    }

    func name(_ level: BumpLevel, _ policy: GatePolicy) -> String {
        policy.scheme == .nmpa ? "\(level.letter) (\(level.name))" : level.name
    }

    /// The version a step of `level` from `before` gives, keeping the new build number.
    func expected(_ before: ReleaseVersion, _ current: ReleaseVersion, _ level: BumpLevel, _ policy: GatePolicy)
        -> String
    {
        var f = before.fields
        switch level {
        case .major:
            f[0] += 1
            f[1] = 0
            f[2] = 0
        case .minor:
            f[1] += 1
            f[2] = 0
        case .patch: f[2] += 1
        case .build: break
        }
        if f.count == 4 { f[3] = max(current.value(.build), before.value(.build) + 1) }
        return policy.prefix + f.map(String.init).joined(separator: ".")
    }
}

/// NOTES-019 and NOTES-020 against the previous release: every component whose content changed
/// (by digest, version re-stamps aside) is named in the notes, and a changed model has a
/// model/algorithm change item.
public struct ChangedComponentsRule: GateRule {
    /// A rule that runs only when a previous release is given.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-019", "NOTES-020"] }

    /// Findings about changed components the notes do not account for.
    public func check(_ context: GateContext) -> [Finding] {
        guard let diff = context.diff, let notes = context.notes else { return [] }
        let text = notes.bodyLines.map(\.text).joined(separator: "\n")
        let line = context.section("changes")?.heading.line ?? notes.bodyStart
        var findings: [Finding] = []
        for c in diff.components where c.contentChanged && c.name != ReleaseNotesComponent.name {
            let names =
                [c.name]
                + c.files.filter { $0.status != .restamped }.flatMap { f in
                    [f.path, String(f.path.split(separator: "/").last ?? "")]
                }
            if !names.contains(where: { !$0.isEmpty && text.contains($0) }) {
                let files = c.files.filter { $0.status != .restamped }.map { "\($0.path) (\($0.status.rawValue))" }
                findings.append(
                    Finding(
                        "NOTES-019", file: notes.file, line: line,
                        "component \(c.name) changed since \(diff.oldVersion) (\(files.prefix(3).joined(separator: ", "))), but the notes do not name it",
                        hint: "Describe the change of \(c.name) in the notes, naming the component or its file"))
            }
            if c.kind == .model && c.status == .changed {
                let modelTypes = context.policy.modelChangeTypes
                if !context.changes.contains(where: { modelTypes.contains($0.changeType) }) {
                    findings.append(
                        Finding(
                            "NOTES-020", file: notes.file, line: line,
                            "model \(c.name) changed since \(diff.oldVersion), but no change item has a model/algorithm change type",
                            hint:
                                "Add a change item with one of \(modelTypes.joined(separator: ", ")), decided by the model update's evaluation"
                        ))
                }
            }
        }
        return findings
    }
}

/// REL-006: on a signed bundle, every role the gate policy requires has signed, each with its own
/// certificate. With a trust policy (`--trust`) signatures are verified as `verify` does; without
/// one, the roles the signature entries name are taken at their word and a warning says so.
public struct ApprovalRule: GateRule {
    /// A rule for the policy's required roles.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["REL-006"] }

    /// Findings about missing or invalid approvals.
    public func check(_ context: GateContext) -> [Finding] {
        let release = context.release
        let required = context.policy.requiredRoles
        guard release.kind == .bundle, !required.isEmpty, let manifest = release.manifest else { return [] }
        guard release.isSigned else {
            return [
                Finding(
                    "REL-006", file: release.path,
                    "the bundle is not signed yet, so approvals by \(required.joined(separator: ", ")) are not checked",
                    hint: "Run check again after ivpack sign --role \(required[0]) (and the other roles)",
                    severity: .warn)
            ]
        }
        var findings: [Finding] = []
        guard let trust = context.trust else {
            let named = Set(release.signatures.compactMap { SignatureEntryName($0.path)?.role })
            for role in required where !named.contains(role) {
                findings.append(
                    Finding(
                        "REL-006", file: release.path,
                        "no signature entry for the required role \(role) (entries: \(release.signatures.map(\.path).joined(separator: ", ")))",
                        hint: "Have \(role) approve with ivpack sign --role \(role)"))
            }
            findings.append(
                Finding(
                    "REL-006", file: release.path,
                    "signatures not verified: roles taken from the entry names only (\(named.sorted().joined(separator: ", ")))",
                    hint:
                        "Pass --trust with the site's trust policy to verify each signature and the role its certificate proves",
                    severity: .warn))
            return findings
        }
        let bytes = manifest.canonicalBytes
        var proven: [String: [(signer: String, certificate: SHA256Digest)]] = [:]
        for (path, der) in release.signatures {
            let outcome = SignatureCheck.evaluate(
                path: path, der: der, manifestBytes: bytes, policy: trust, now: context.now)
            if outcome.check.status == .fail {
                findings.append(
                    Finding(
                        "REL-006", file: release.path,
                        "signature \(path) is not a valid approval: \(outcome.check.details.joined(separator: "; "))",
                        hint: "Sign again with a certificate the trust policy accepts for the role"))
            } else if let role = outcome.role, let certificate = outcome.certificate {
                proven[role, default: []].append((outcome.signer ?? path, certificate))
            }
        }
        let roles = SignaturesAndRoles.requiredRoles(required, proven: proven, signed: true)
        for detail in roles.details {
            findings.append(
                Finding(
                    "REL-006", file: release.path, detail,
                    hint: "Each required role approves with its own certificate: ivpack sign --role ROLE"))
        }
        return findings
    }
}
