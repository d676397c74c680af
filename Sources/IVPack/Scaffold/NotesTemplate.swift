/// The release-notes skeleton of a release under a gate policy: the front matter keys, records,
/// sections and change table the policy's rules require, with every value ivpack knows filled in
/// (`ReleaseFacts`) and a `TODO` on each line only the manufacturer can fill. The gate refuses a
/// `TODO` anywhere in the notes (NOTES-018, one finding per line), so an unfilled skeleton never
/// passes `ivpack check`. One generator for `ivpack init` and `ivpack notes template`.
public enum NotesTemplate {
    /// The word that marks a value to fill; one of every preset's placeholders.
    public static let marker = "TODO"

    /// The skeleton for `facts` under `policy`, as UTF-8 Markdown with YAML front matter.
    public static func render(_ facts: ReleaseFacts, policy: GatePolicy) -> String {
        var out: [String] = ["---"]
        out += frontMatter(facts, policy: policy)
        out += records(facts, policy: policy)
        out.append("---")
        out.append("")
        let title = heading(zh: "发布说明", en: "Release Notes", policy.notes.headings)
        out.append("# \(facts.product.name) \(facts.version) \(title)")
        for (index, section) in policy.notes.sections.enumerated() {
            out.append("")
            let text = heading(zh: section.zh.first, en: section.en.first, policy.notes.headings)
            out.append("## \(index + 1) \(text)")
            out.append("")
            out += body(of: section, facts, policy: policy)
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// A heading's text in the languages `language` asks for.
    static func heading(zh: String?, en: String?, _ language: GatePolicy.HeadingLanguage) -> String {
        switch language {
        case .zh: return zh ?? en ?? ""
        case .en: return en ?? zh ?? ""
        case .both, .either: return [zh, en].compactMap { $0 }.joined(separator: " / ")
        }
    }

    /// `key: value`, or the key with a TODO and what to write.
    static func line(_ key: String, _ facts: ReleaseFacts) -> String {
        if let value = facts.frontMatterValue(key) { return "\(key): \(yaml(value))" }
        if key == "update_level" && facts.scheme == .semver {
            return "\(key): \(marker)  # the level the highest change type requires: major, minor or patch"
        }
        return "\(key): \(marker)  # \(ReleaseFacts.describe(key))"
    }

    /// A YAML scalar: quoted when YAML would read it as something else than the string.
    static func yaml(_ value: String) -> String {
        let plain = value.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                || "._/-+ ".unicodeScalars.contains($0)
        }
        let numeric = Double(value) != nil || value.allSatisfy { $0.isNumber }
        if plain && !numeric && !value.isEmpty && value.first != " " && value.last != " " { return value }
        var escaped = ""
        for c in value {
            switch c {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            default: escaped.append(c)
            }
        }
        return "\"\(escaped)\""
    }

    static func frontMatter(_ facts: ReleaseFacts, policy: GatePolicy) -> [String] {
        var keys = policy.notes.frontMatter
        // Stated where known: the gate checks them when present (VER-015, NOTES-009, NOTES-016).
        for extra in ["version", "semver", "sbom_file", "sbom_sha256"]
        where !keys.contains(extra) && facts.frontMatterValue(extra) != nil {
            keys.append(extra)
        }
        var out = keys.map { line($0, facts) }
        if let module = facts.versionModule {
            out.append("version_module: \(module)  # the one file the code reads its version from (VER-014)")
        } else if policy.scheme == .nmpa, let code = facts.codeComponents.first {
            // VER-014: the code reads its version from one file the pipeline stamps.
            out.append("# version_module: the file of \(code) the code reads its version from (VER-014)")
        }
        return out
    }

    static func records(_ facts: ReleaseFacts, policy: GatePolicy) -> [String] {
        var out: [String] = []
        let t = marker
        if policy.notes.requires(.modules) {
            if facts.models.isEmpty {
                out.append("modules: []                     # one entry per model component (VER-012)")
            } else {
                out.append("modules:                        # VER-012")
                var seen = Set<String>()
                for model in facts.models where seen.insert(model.component).inserted {
                    out.append("  - name: \(model.component)")
                    out.append("    component: \(model.component)")
                    out.append("    version: \(facts.version)")
                    out.append("    format: \(ModuleVersionRule.fullVersionFormat)")
                    out.append("    naming_rule_ref: \(t)  # the naming rule's document ID and revision")
                    out.append("    full_version: \(facts.version)")
                }
            }
        }
        if policy.notes.requires(.rollback) {
            out.append("rollback:                       # NOTES-013, REL-015")
            if let previous = facts.previousVersion, GateText.isNone(previous) {
                // A first release: nothing to roll back to (REL-015 asks no test).
                out.append("  target: 无 / none")
                out.append("  tested: false")
                out.append("  evidence: 无 / none")
            } else if let previous = facts.previousVersion {
                out.append("  target: \(previous)")
                out.append("  tested: \(t)  # true, once the rollback to \(previous) is tested")
                out.append("  evidence: \(t)  # the rollback test record's ID")
            } else {
                out.append("  target: \(t)  # the previous released version, or 无 / none for a first release")
                out.append("  tested: \(t)  # true once tested; false for a first release")
                out.append("  evidence: \(t)  # the rollback test record's ID, or 无 / none")
            }
            out.append("  compatibility: \(t)  # API, interfaces, reports: what stays compatible")
            out.append("  data_migration: \(t)  # what is migrated, or 无 / none")
            out.append("  legacy_users: \(t)  # the impact on users of the previous version, or none")
        }
        if policy.notes.requires(.regulatory) {
            out.append("regulatory:                     # NOTES-011, REL-008: one entry per market")
            out.append("  CN:")
            out.append("    change_registration_required: \(t)  # true or false")
            out.append("    approval_number: null       # the approval number, for an X step")
            out.append("    decision_record: \(t)  # the regulatory assessment's record ID")
        }
        if policy.notes.requires(.ai) {
            out.append("ai:                             # NOTES-008, REL-014")
            out.append("  model:")
            if let model = facts.models.first {
                out.append("    id: \(model.component)")
                out.append("    version: \(facts.version)")
                out.append("    file: \(model.path)")
                out.append("    sha256: \(model.sha256?.hex ?? "\(t)  # sha256sum \(model.path)")")
            } else {
                out.append("    id: \(t)  # the model's registered ID")
                out.append("    version: \(facts.version)")
                out.append("    file: \(t)  # the weights' path in the release (a model component)")
                out.append("    sha256: \(t)  # the weights' SHA-256")
            }
            out.append("  update_driver: \(t)  # 算法驱动 algorithm-driven | 数据驱动 data-driven | 无 none")
            out.append("  test_set: {id: \(t), sha256: \(t)}  # the sequestered test set")
            out.append("  baseline: {version: \(t), test_set_sha256: \(t)}  # the registered version compared with")
            out.append("  metrics:")
            out.append("    - {name: \(t), value: \(t)}")
            out.append("  statistical_test: {name: \(t), alpha: 0.05, p: \(t), conclusion: \(t)}")
            out.append("  adaptive_learning: {CN: false}")
        }
        return out
    }

    static func body(of section: GatePolicy.Section, _ facts: ReleaseFacts, policy: GatePolicy) -> [String] {
        let t = marker
        switch section.id {
        case "version-information":
            return [
                "| 产品名称 Product | 型号规格 Model | 完整版本 Full version | 上一发布版本 Previous | 发布日期 Date |",
                "|---|---|---|---|---|",
                "| \(facts.product.name) | \(facts.product.model) | \(facts.version) | \(facts.previousVersion ?? t) | \(t) |",
            ]
        case "classification":
            return ["\(t): the update classification and why (风险从高: the highest change type decides)."]
        case "changes":
            let table = [
                "| ID | KaC | change_type | 描述 Description |",
                "|---|---|---|---|",
                "| \(t) | \(t) | \(t) | \(t) |",
            ]
            guard !policy.notes.changeSubsections.isEmpty else { return table }
            var out: [String] = []
            for (i, sub) in policy.notes.changeSubsections.enumerated() {
                if i > 0 { out.append("") }
                out.append("### " + [sub.zh.first, sub.en.first].compactMap { $0 }.joined(separator: " "))
                out.append("")
                out += i == 0 ? table : ["\(t): a change table as above, or 无 / None"]
            }
            return out
        case "anomalies":
            return ["已知缺陷总数 Known total: \(t); 剩余缺陷数 Remaining: \(t)"]
        case "cybersecurity":
            var out = ["\(t): the vulnerabilities assessed and the security patches of this release."]
            if let sbom = facts.sbom {
                out.append("")
                out.append("- SBOM: `\(sbom.path)`, SHA-256 \(sbom.sha256?.hex ?? t)")
            }
            return out
        case "environment":
            return ["\(t): the exact versions validated (OS, runtime, hardware), each one version, not a range."]
        case "algorithm-model":
            return ["\(t): the model, its update driver, training data and architecture changes, or 无 / None."]
        case "verification":
            return ["\(t): the tests run on this artifact, the reports (*.test-report.json) and the AI metrics."]
        case "installation":
            return ["\(t): installation, upgrade, data migration and rollback (as the rollback record says)."]
        case "approval":
            let roles = policy.requiredRoles.joined(separator: ", ")
            return ["\(t): who approves the release (signatures by \(roles))."]
        default:
            return ["\(t): \(section.en.first ?? section.zh.first ?? section.id), or 无 / None."]
        }
    }
}

extension NotesTemplate {
    /// The skeleton for the spec at `specPath`: its product and files (digests computed), for
    /// `version` (default: the spec's) after `previous` (`none`/`无`: a first release).
    public static func render(specPath: String, policy: GatePolicy, version: String?, previous: String?) throws
        -> String
    {
        var release = try ReleaseUnderCheck.loadSpec(path: specPath, hashAll: true)
        if let version { release.version = version }
        let previousVersion =
            previous.map { GateText.isNone($0) ? "无 / none" : $0 }
            ?? previousTag(specPath: specPath, before: release.version, policy: policy)
        var facts = ReleaseFacts(release: release, policy: policy, previousVersion: previousVersion)
        facts.versionModule = release.file(ReleaseScaffold.versionModule) != nil ? ReleaseScaffold.versionModule : nil
        return render(facts, policy: policy)
    }

    /// The highest version below `version` that the first code component's repository has a
    /// release tag for (its tag pattern, default `{version}`), canonical under `policy`; nil when
    /// there is none or the repository cannot be read (the template then asks for it).
    static func previousTag(specPath: String, before version: String, policy: GatePolicy) -> String? {
        guard let spec = try? ReleaseSpec.load(path: specPath),
            let code = spec.components.first(where: { $0.kind == .code }),
            let tree = try? ReleaseTree(root: spec.root),
            case .success(let real) = tree.resolve(code.version.repository ?? code.paths[0]),
            let repository = try? GitRepository(discoveringFrom: real),
            let names = try? repository.tagNames(),
            let market = policy.channel(policy.defaultChannel)
        else { return nil }
        let pattern = code.version.tag ?? "{version}"
        guard let range = pattern.range(of: "{version}") else { return nil }
        let prefix = String(pattern[..<range.lowerBound])
        let suffix = String(pattern[range.upperBound...])
        func parsed(_ text: String) -> ReleaseVersion? {
            let check = VersionNaming.check(text, policy: policy, channel: market, file: "", line: nil)
            return check.findings.isEmpty ? check.parsed : nil
        }
        guard let current = parsed(version) else { return nil }
        var best: ReleaseVersion?
        for name in names
        where name.hasPrefix(prefix) && name.hasSuffix(suffix) && name.count > prefix.count + suffix.count {
            let text = String(name.dropFirst(prefix.count).dropLast(suffix.count))
            guard let v = parsed(text), v < current else { continue }
            if best == nil || best! < v { best = v }
        }
        return best?.text
    }

    /// Writes `text` to the new file `path` (its folder made when missing), atomically.
    public static func write(_ text: String, to path: String) throws {
        try OutputFolder.prepare(for: path)
        let file = try AtomicOutputFile(path: path)
        try Array(text.utf8).withUnsafeBytes { try file.write($0) }
        try file.commit()
    }
}
