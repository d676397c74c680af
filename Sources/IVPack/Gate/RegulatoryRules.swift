/// What the regulatory rules share: the record a rule reads, and the finding for a missing one.
enum RegulatoryRecords {
    /// The front matter record `record` of the notes, or a finding of `ruleID` when the policy
    /// requires it and it is missing or not a mapping (nil, nil: absent and not required).
    static func mapping(
        _ record: NotesRecord, _ context: GateContext, ruleID: String, example: String
    ) -> (node: FrontMatterNode?, finding: Finding?) {
        guard let notes = context.notes else { return (nil, nil) }
        guard let node = notes.record(record.rawValue) else {
            guard context.policy.notes.requires(record) else { return (nil, nil) }
            return (
                nil,
                Finding(
                    ruleID, file: notes.file, line: 1,
                    "the notes carry no \(record.rawValue) record, which policy \(context.policy.name) requires",
                    hint: "Add to the front matter: \(example)")
            )
        }
        guard node.isMapping else {
            return (
                nil,
                Finding(
                    ruleID, file: notes.file, line: node.line, "\(record.rawValue) is not a mapping of keys to values",
                    hint: "Write it as: \(example)")
            )
        }
        return (node, nil)
    }

    /// The version this release follows: `--previous`'s, else the notes' `previous_released_version`
    /// (nil for a first release, `无` / `none`).
    static func previousVersion(_ context: GateContext) -> String? {
        // A check against this very release (VER-013 warns) says nothing about the one before.
        if let previous = context.previous, previous.version != context.release.version { return previous.version }
        guard let value = context.notes?.frontMatter("previous_released_version")?.value, !GateText.isNone(value)
        else { return nil }
        return value
    }
}

/// NOTES-013 and REL-015: the upgrade, compatibility and rollback record. The notes state the
/// compatibility, the data migration and the impact on legacy users (NOTES-013); the rollback
/// target is the previous released version, tested, with its evidence (REL-015).
///
/// ```yaml
/// rollback:
///   target: V2.3.0.1013          # the previous released version
///   tested: true
///   evidence: TR-ROLLBACK-77
///   compatibility: API and reports unchanged
///   data_migration: 无 / none
///   legacy_users: none; results already sent are kept
/// ```
public struct RollbackRule: GateRule {
    /// The members NOTES-013 requires, each a statement (`无 / none` when there is nothing).
    public static let statements = ["compatibility", "data_migration", "legacy_users"]

    /// A rule for the `rollback` record.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-013", "REL-015"] }

    /// Findings about the rollback record.
    public func check(_ context: GateContext) -> [Finding] {
        let previous = RegulatoryRecords.previousVersion(context)
        let target = previous ?? "无 / none"
        let example =
            "rollback: {target: \(target), tested: true, evidence: <rollback test record>, compatibility: <statement>, data_migration: <statement or 无 / none>, legacy_users: <statement>}"
        let (found, missing) = RegulatoryRecords.mapping(.rollback, context, ruleID: "NOTES-013", example: example)
        if let missing { return [missing] }
        guard let notes = context.notes, let record = found else { return [] }
        var findings: [Finding] = []
        for key in Self.statements where record[key]?.string == nil {
            findings.append(
                Finding(
                    "NOTES-013", file: notes.file, line: record[key]?.line ?? record.line,
                    "rollback.\(key) is missing or empty",
                    hint: "State it: rollback.\(key): <statement>, or 无 / none when there is nothing to say"))
        }
        let stated = record["target"]?.string
        if let previous {
            if stated != previous {
                findings.append(
                    Finding(
                        "REL-015", file: notes.file, line: record["target"]?.line ?? record.line,
                        stated.map { "the rollback target is \($0), but the previous released version is \(previous)" }
                            ?? "rollback.target is missing; the previous released version is \(previous)",
                        hint:
                            "Test the rollback to the previous released version and write rollback.target: \(previous)"
                    ))
            }
        } else if let stated, !GateText.isNone(stated) {
            findings.append(
                Finding(
                    "REL-015", file: notes.file, line: record["target"]?.line ?? record.line,
                    "the rollback target is \(stated), but the notes name no previous released version",
                    hint: "For a first release write rollback.target: 无 / none, or state previous_released_version"))
        }
        if previous != nil, record["tested"]?.bool != true {
            findings.append(
                Finding(
                    "REL-015", file: notes.file, line: record["tested"]?.line ?? record.line,
                    "the rollback to \(previous!) is not recorded as tested (rollback.tested: \(record["tested"]?.string ?? "missing"))",
                    hint: "Test the rollback on this release, then write rollback.tested: true with its evidence"))
        }
        if previous != nil, record["evidence"]?.string.map({ !GateText.isNone($0) }) != true {
            findings.append(
                Finding(
                    "REL-015", file: notes.file, line: record["evidence"]?.line ?? record.line,
                    "rollback.evidence is missing: no record of the rollback test",
                    hint: "Write rollback.evidence: the ID of the rollback test record, e.g. TR-ROLLBACK-77"))
        }
        return findings
    }
}

/// NOTES-011 and REL-008: the regulatory impact per market, each with its decision record
/// (NOTES-011); an X bump needs the CN change registration and its approval number (NOTES-011);
/// under a US PCCP, the plan's title and version, the modification ID and every acceptance result,
/// none failed or overridden (REL-008).
///
/// ```yaml
/// regulatory:
///   CN: {change_registration_required: false, approval_number: null, decision_record: RA-2026-031}
///   US: {pathway: letter-to-file, decision_record: RA-2026-032}
///   EU: {significant_change: false, decision_record: RA-2026-033}
/// ```
public struct RegulatoryImpactRule: GateRule {
    /// The US pathways a decision may record.
    public static let usPathways = ["letter-to-file", "510k", "de-novo", "pma-supplement", "pccp"]
    /// The results an acceptance criterion may have.
    public static let acceptanceResults = ["pass", "fail"]

    /// A rule for the `regulatory` record.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-011", "REL-008"] }

    /// Findings about the regulatory record.
    public func check(_ context: GateContext) -> [Finding] {
        let example =
            "regulatory: {CN: {change_registration_required: false, decision_record: <record ID>}, US: {pathway: letter-to-file, decision_record: <record ID>}, EU: {significant_change: false, decision_record: <record ID>}}"
        let (found, missing) = RegulatoryRecords.mapping(.regulatory, context, ruleID: "NOTES-011", example: example)
        if let missing { return [missing] }
        guard let notes = context.notes, let record = found else { return [] }
        var findings: [Finding] = []
        func add(_ id: String, _ node: FrontMatterNode?, _ message: String, _ hint: String) {
            findings.append(Finding(id, file: notes.file, line: node?.line ?? record.line, message, hint: hint))
        }
        if record.members.isEmpty {
            add("NOTES-011", record, "the regulatory record names no market", "Write one entry per market: \(example)")
        }
        for member in record.members {
            let market = member.key
            guard member.node.isMapping else {
                add(
                    "NOTES-011", member.node, "regulatory.\(market) is not a mapping",
                    "Write regulatory.\(market): {decision_record: <record ID>, ...}")
                continue
            }
            if member.node["decision_record"]?.string == nil {
                add(
                    "NOTES-011", member.node, "regulatory.\(market) has no decision_record",
                    "Record the regulatory decision for \(market) and write its ID: decision_record: RA-...")
            }
        }
        if let cn = record["CN"], cn.isMapping {
            checkCN(cn, context, add)
        }
        if let us = record["US"], us.isMapping {
            checkUS(us, add)
        }
        if let eu = record["EU"], eu.isMapping, eu["significant_change"]?.bool == nil {
            add(
                "NOTES-011", eu["significant_change"] ?? eu,
                "regulatory.EU.significant_change is not true or false",
                "State the significant-change assessment: significant_change: true or false")
        }
        return findings
    }

    /// The step this release makes: from `--previous`, else the notes' `update_level`.
    static func step(_ context: GateContext) -> BumpLevel? {
        if let level = context.diff?.actualLevel { return level }
        return context.notes?.frontMatter("update_level")?.value.flatMap { BumpLevel(text: $0) }
    }

    private func checkCN(
        _ cn: FrontMatterNode, _ context: GateContext,
        _ add: (String, FrontMatterNode?, String, String) -> Void
    ) {
        let required = cn["change_registration_required"]
        if required?.bool == nil {
            add(
                "NOTES-011", required ?? cn, "regulatory.CN.change_registration_required is not true or false",
                "State whether the release needs a change registration (变更注册): true or false")
        }
        guard Self.step(context) == .major else { return }
        if required?.bool == false {
            add(
                "NOTES-011", required,
                "the release is an X (major) update, but regulatory.CN says no change registration",
                "An X bump is a 重大更新: write change_registration_required: true and the approval number")
        }
        if cn["approval_number"]?.string.map({ !GateText.isNone($0) }) != true {
            add(
                "NOTES-011", cn["approval_number"] ?? cn,
                "the release is an X (major) update, but regulatory.CN has no approval number of the change registration",
                "Deploy to CN only after the 变更注册 is approved: write approval_number: <国械注准 / approval ID> and approval_date"
            )
        }
    }

    private func checkUS(_ us: FrontMatterNode, _ add: (String, FrontMatterNode?, String, String) -> Void) {
        let pathway = us["pathway"]?.string
        if let pathway, !Self.usPathways.contains(pathway) {
            add(
                "REL-008", us["pathway"], "regulatory.US.pathway \"\(pathway)\" is not a recorded FDA decision",
                "Write one of: \(Self.usPathways.joined(separator: ", "))")
        } else if pathway == nil {
            add(
                "REL-008", us, "regulatory.US has no pathway",
                "Write the FDA decision: pathway: \(Self.usPathways.joined(separator: " | "))")
        }
        let pccp = us["pccp"].flatMap { $0.isNull || $0.string.map(GateText.isNone) == true ? nil : $0 }
        guard pathway == "pccp" || pccp != nil else { return }
        guard let pccp, pccp.isMapping else {
            add(
                "REL-008", us["pccp"] ?? us, "the US decision is a PCCP, but regulatory.US.pccp does not describe it",
                "Write pccp: {title: <authorized PCCP>, version: <its version>, modification_id: <ID>, acceptance_results: [{criterion: <ID>, result: pass}]}"
            )
            return
        }
        for key in ["title", "version", "modification_id"] where pccp[key]?.string == nil {
            add(
                "REL-008", pccp[key] ?? pccp, "regulatory.US.pccp.\(key) is missing",
                "Write the \(key) of the modification in the authorized PCCP")
        }
        let results = pccp["acceptance_results"]?.items ?? []
        if results.isEmpty {
            add(
                "REL-008", pccp["acceptance_results"] ?? pccp,
                "regulatory.US.pccp lists no acceptance results of the Modification Protocol",
                "List every acceptance criterion and its result: acceptance_results: [{criterion: <ID>, result: pass}]")
        }
        for (i, item) in results.enumerated() {
            let name = item["criterion"]?.string ?? "#\(i + 1)"
            let result = item["result"]?.string?.lowercased()
            if result == "fail" {
                add(
                    "REL-008", item,
                    "acceptance criterion \(name) of PCCP modification \(pccp["modification_id"]?.string ?? "?") failed",
                    "A failed criterion blocks the release under the PCCP: fix the modification, or take another pathway (510(k))"
                )
            } else if result != "pass" {
                add(
                    "REL-008", item, "acceptance criterion \(name) has no result pass or fail",
                    "Write result: pass or result: fail for every criterion")
            }
            if item["overridden"]?.bool == true {
                add(
                    "REL-008", item["overridden"], "acceptance criterion \(name) is marked overridden",
                    "A PCCP criterion failure may not be overridden: remove the override and meet the criterion")
            }
        }
    }
}

/// NOTES-008 and REL-014: the algorithm and model record. The model's ID, version, file and
/// weights SHA-256 (equal to the digest of that file in the release); the update driver, agreeing
/// with the AI change items; the sequestered test set's ID and SHA-256, equal to the comparison
/// baseline's; the metrics; the statistical test and its conclusion, agreeing with `p < alpha` and
/// with the data-driven change type (NOTES-008). Adaptive learning is off in every market the
/// release names, unless an approval or PCCP covers it (REL-014).
///
/// ```yaml
/// ai:
///   model: {id: ps-ai-nodule-detector, version: V2.3.1.1024, file: models/nodule-detector.safetensors, sha256: 7da6…}
///   update_driver: none                  # 算法驱动 algorithm-driven | 数据驱动 data-driven | 无 none
///   test_set: {id: PS-CT-TEST-SEQ-02, sha256: 3bf3…}
///   baseline: {version: V2.3.0.1013, test_set_sha256: 3bf3…}
///   metrics: [{name: sensitivity, value: 0.921, ci95: "0.905-0.935", baseline: 0.921}]
///   statistical_test: {name: McNemar, alpha: 0.05, p: 1.0, conclusion: not significant}
///   adaptive_learning: {CN: false, US: false, EU: false}
/// ```
public struct AIModelRule: GateRule {
    /// How an update driver may be written, and what it means.
    public enum Driver: String, Sendable, CaseIterable {
        /// 算法驱动: algorithm, structure, pipeline, framework or I/O types changed.
        case algorithm
        /// 数据驱动: more or replaced training data.
        case data
        /// No model update.
        case none

        /// The driver `text` names: `算法驱动` / `algorithm-driven`, `数据驱动` / `data-driven`, `无` / `none`.
        public init?(text: String) {
            let t = text.lowercased()
            if t.contains("算法驱动") || t.hasPrefix("algorithm") {
                self = .algorithm
            } else if t.contains("数据驱动") || t.hasPrefix("data") {
                self = .data
            } else if GateText.isNone(t) {
                self = .none
            } else {
                return nil
            }
        }

        /// The driver the change items imply, from the AI change types of table 5.2.
        static func implied(by changes: [ChangeItem]) -> Driver {
            let types = Set(changes.map(\.changeType))
            if types.contains("ai_algorithm_driven") { return .algorithm }
            let data = ["ai_retrain_replace_data", "ai_data_driven_significant", "ai_data_driven_nonsignificant"]
            return types.isDisjoint(with: data) ? .none : .data
        }

        var written: String {
            switch self {
            case .algorithm: return "算法驱动 algorithm-driven"
            case .data: return "数据驱动 data-driven"
            case .none: return "无 none"
            }
        }
    }

    /// A rule for the `ai` record.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-008", "REL-014"] }

    /// Findings about the AI record.
    public func check(_ context: GateContext) -> [Finding] {
        let models = context.release.files.filter { $0.kind == .model }
        let model = models.first { !$0.path.hasSuffix(".json") } ?? models.first
        let example =
            "ai: {model: {id: \(model?.component ?? "<model ID>"), version: \(context.release.version), file: \(model?.path ?? "<the weights' path in the release>"), sha256: \(model?.sha256?.hex ?? "<the weights' SHA-256>")}, update_driver: \(Driver.implied(by: context.changes).written), test_set: {id: <ID>, sha256: <sha256>}, baseline: {version: <registered version>, test_set_sha256: <sha256>}, metrics: [{name: <metric>, value: <value>}], statistical_test: {name: <test>, alpha: 0.05, p: <p>, conclusion: not significant}, adaptive_learning: {CN: false}}"
        let (found, missing) = RegulatoryRecords.mapping(.ai, context, ruleID: "NOTES-008", example: example)
        if let missing { return [missing] }
        guard let notes = context.notes, let record = found else { return [] }
        var findings: [Finding] = []
        func add(_ id: String, _ node: FrontMatterNode?, _ message: String, _ hint: String) {
            findings.append(Finding(id, file: notes.file, line: node?.line ?? record.line, message, hint: hint))
        }
        checkModel(record, context, add)
        // The update driver and the change items.
        let implied = Driver.implied(by: context.changes)
        if let text = record["update_driver"]?.string {
            if let driver = Driver(text: text) {
                if driver != implied {
                    add(
                        "NOTES-008", record["update_driver"],
                        "ai.update_driver is \(driver.written), but the change items make it \(implied.written)",
                        "Write update_driver: \(implied.written), or correct the AI change types (table 5.2)")
                }
            } else {
                add(
                    "NOTES-008", record["update_driver"], "ai.update_driver \"\(text)\" is not an update driver",
                    "Write 算法驱动 algorithm-driven, 数据驱动 data-driven or 无 none")
            }
        } else {
            add(
                "NOTES-008", record, "ai.update_driver is missing",
                "Write update_driver: \(implied.written)")
        }
        // The sequestered test set, the same as the comparison baseline's.
        let testSet = record["test_set"]
        let testHash = testSet?["sha256"]?.string?.lowercased()
        if testSet?["id"]?.string == nil || testHash.flatMap({ SHA256Digest(hex: $0) }) == nil {
            add(
                "NOTES-008", testSet ?? record, "ai.test_set needs an id and a sha256 of 64 hexadecimal digits",
                "Write test_set: {id: <sequestered test set ID>, sha256: <its SHA-256>}")
        }
        let baseline = record["baseline"]
        if baseline?["version"]?.string == nil {
            add(
                "NOTES-008", baseline ?? record, "ai.baseline.version is missing",
                "Write the registered version the metrics are compared with: baseline: {version: <registered version>, test_set_sha256: \(testHash ?? "<its test set's SHA-256>")}"
            )
        }
        if let testHash, let b = baseline?["test_set_sha256"]?.string?.lowercased(), b != testHash {
            add(
                "NOTES-008", baseline?["test_set_sha256"],
                "the test set's SHA-256 \(testHash) is not the comparison baseline's \(b): the metrics are not comparable",
                "Evaluate on the same sequestered test set as the baseline (SHA-256 \(b)), or re-evaluate the baseline on \(testHash)"
            )
        } else if testHash != nil, baseline?["test_set_sha256"]?.string == nil {
            add(
                "NOTES-008", baseline ?? record, "ai.baseline.test_set_sha256 is missing",
                "Write the SHA-256 of the baseline's test set: test_set_sha256: \(testHash!)")
        }
        let metrics = record["metrics"]?.items ?? []
        if metrics.isEmpty || metrics.contains(where: { $0["name"]?.string == nil || $0["value"]?.string == nil }) {
            add(
                "NOTES-008", record["metrics"] ?? record, "ai.metrics must list each metric with a name and a value",
                "Write metrics: [{name: sensitivity, value: 0.921, ci95: \"0.905-0.935\", baseline: 0.921}]")
        }
        checkStatistics(record, context, add)
        checkAdaptiveLearning(record, context, add)
        return findings
    }

    /// The fix for a missing `ai.model`, with the release's weights file, digest and version.
    static func modelHint(_ context: GateContext) -> String {
        let models = context.release.files.filter { $0.kind == .model }
        guard let model = models.first(where: { !$0.path.hasSuffix(".json") }) ?? models.first else {
            return
                "Write model: {id: <model ID>, version: \(context.release.version), file: <the weights' path in the release>, sha256: <their SHA-256>}; the release has no model component yet"
        }
        return
            "Write model: {id: \(model.component), version: \(context.release.version), file: \(model.path), sha256: \(model.sha256?.hex ?? "<the SHA-256 of \(model.path)>")}"
    }

    private func checkModel(
        _ record: FrontMatterNode, _ context: GateContext, _ add: (String, FrontMatterNode?, String, String) -> Void
    ) {
        guard let model = record["model"], model.isMapping else {
            add(
                "NOTES-008", record["model"] ?? record, "ai.model is missing",
                AIModelRule.modelHint(context))
            return
        }
        for key in ["id", "version"] where model[key]?.string == nil {
            add(
                "NOTES-008", model[key] ?? model, "ai.model.\(key) is missing",
                key == "version"
                    ? "Write version: \(context.release.version) when the model carries the full version, else the model's own version (VER-012 maps it)"
                    : "Write the model's ID, the name it is registered and tested under")
        }
        guard let path = model["file"]?.string else {
            add(
                "NOTES-008", model, "ai.model.file is missing",
                "Name the weights file by its path in the release, e.g. \(context.release.files.first { $0.kind == .model }?.path ?? "models/model.safetensors")"
            )
            return
        }
        guard let file = context.release.file(path) else {
            add(
                "NOTES-008", model["file"], "ai.model.file \(path) is not a file of the release",
                "Name the weights file by its path in the release, e.g. \(context.release.files.first { $0.kind == .model }?.path ?? "models/model.safetensors")"
            )
            return
        }
        let stated = model["sha256"]?.string?.lowercased()
        guard let stated, SHA256Digest(hex: stated) != nil else {
            add(
                "NOTES-008", model["sha256"] ?? model, "ai.model.sha256 is missing or not 64 hexadecimal digits",
                "Write the weights' SHA-256: sha256: \(file.sha256?.hex ?? "<sha256sum of \(path)>")")
            return
        }
        if let actual = file.sha256?.hex, actual != stated {
            add(
                "NOTES-008", model["sha256"],
                "ai.model.sha256 is \(stated), but \(path) in the \(context.release.kind.rawValue) has SHA-256 \(actual)",
                "Write the digest of the weights that ship: sha256: \(actual)")
        }
    }

    private func checkStatistics(
        _ record: FrontMatterNode, _ context: GateContext, _ add: (String, FrontMatterNode?, String, String) -> Void
    ) {
        guard let test = record["statistical_test"], test.isMapping else {
            add(
                "NOTES-008", record["statistical_test"] ?? record, "ai.statistical_test is missing",
                "Write statistical_test: {name: <test>, alpha: 0.05, p: <p>, conclusion: significant | not significant}"
            )
            return
        }
        if test["name"]?.string == nil {
            add("NOTES-008", test, "ai.statistical_test.name is missing", "Name the pre-specified test, e.g. McNemar")
        }
        let text = test["conclusion"]?.string?.lowercased()
        let significant: Bool? =
            text.map { t in
                if t.hasPrefix("not") || t.hasPrefix("non") || t.contains("无显著") || t.contains("不显著") { return false }
                if t.hasPrefix("significant") || t == "显著" || t.hasPrefix("有显著") { return true }
                return nil
            } ?? nil
        guard let significant else {
            add(
                "NOTES-008", test["conclusion"] ?? test,
                "ai.statistical_test.conclusion is not significant / not significant",
                "Write conclusion: significant, or conclusion: not significant")
            return
        }
        if let p = test["p"]?.number, let alpha = test["alpha"]?.number, (p < alpha) != significant {
            add(
                "NOTES-008", test["conclusion"],
                "the conclusion says \(significant ? "significant" : "not significant"), but p = \(test["p"]!.string!) is \(p < alpha ? "below" : "not below") alpha = \(test["alpha"]!.string!)",
                "Write conclusion: \(p < alpha ? "significant" : "not significant")")
        }
        let types = Set(context.changes.map(\.changeType))
        if significant && types.contains("ai_data_driven_nonsignificant") {
            add(
                "NOTES-008", test["conclusion"],
                "the test is significant, but a change item is ai_data_driven_nonsignificant",
                "A significant data-driven change is ai_data_driven_significant (X)")
        } else if !significant && types.contains("ai_data_driven_significant") {
            add(
                "NOTES-008", test["conclusion"],
                "the test is not significant, but a change item is ai_data_driven_significant",
                "A non-significant data-driven change is ai_data_driven_nonsignificant (Y)")
        }
    }

    private func checkAdaptiveLearning(
        _ record: FrontMatterNode, _ context: GateContext, _ add: (String, FrontMatterNode?, String, String) -> Void
    ) {
        let markets = context.notes?.record(NotesRecord.regulatory.rawValue)?.members.map(\.key) ?? []
        guard let learning = record["adaptive_learning"], learning.isMapping else {
            let listed = (markets.isEmpty ? ["CN"] : markets).map { "\($0): false" }.joined(separator: ", ")
            add(
                "REL-014", record["adaptive_learning"] ?? record,
                "ai.adaptive_learning does not state, per market, that self-learning is off",
                "Write adaptive_learning: {\(listed)}")
            return
        }
        for market in markets where learning[market] == nil {
            add(
                "REL-014", learning, "ai.adaptive_learning does not state market \(market)",
                "Write adaptive_learning.\(market): false")
        }
        for member in learning.members {
            let node = member.node
            if node.bool == false { continue }
            let enabled = node.bool ?? node["enabled"]?.bool
            let cover = node["covered_by"]?.string
            if enabled == true && cover == nil {
                add(
                    "REL-014", node,
                    "adaptive learning is enabled for \(member.key) without an approval or PCCP that covers it",
                    "Disable it (adaptive_learning.\(member.key): false), or write {enabled: true, covered_by: <approval or PCCP modification ID>}"
                )
            } else if enabled == nil {
                add(
                    "REL-014", node, "ai.adaptive_learning.\(member.key) is not true or false",
                    "Write adaptive_learning.\(member.key): false")
            }
        }
    }
}

/// A test report a release carries, as REL-001 reads it: a JSON file named `*.test-report.json`
/// (Schemas/test-report.schema.json), written by the test system for the artifact it tested.
///
/// ```json
/// {"format": "ivpack-test-report/1", "id": "TR-2026-311", "full_version": "V2.3.1.1024",
///  "artifact_sha256": "…", "suites": [{"name": "system", "passed": 212, "failed": 0, "not_run": 0},
///  {"name": "regression", "passed": 120, "failed": 0, "not_run": 0}]}
/// ```
public struct TestReport: Sendable, Equatable {
    /// How a test report's file name ends.
    public static let suffix = ".test-report.json"
    /// The `format` a report declares.
    public static let format = "ivpack-test-report/1"
    /// Largest report read.
    public static let maxBytes = 1 << 20
    /// Most reports read from one release.
    public static let maxCount = 64

    /// One test suite's counts.
    public struct Suite: Sendable, Equatable {
        /// The suite's name (`system`, `regression`).
        public var name: String
        /// Tests passed, failed and not run.
        public var passed: Int64, failed: Int64, notRun: Int64
        /// Why tests were not run; nil when none is given.
        public var notRunJustification: String?
    }

    /// The report's ID (`TR-2026-311`).
    public var id: String
    /// The full version tested.
    public var fullVersion: String
    /// The artifact digest tested (`ReleaseUnderCheck.artifactDigest`), lower-case hex.
    public var artifactSHA256: String
    /// The suites, in order.
    public var suites: [Suite]

    /// Reads a report; the problem, in words, when it is not one.
    public static func parse(_ bytes: [UInt8]) -> Result<TestReport, TestReportProblem> {
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes, limits: JSONLimits(maxBytes: maxBytes, maxDepth: 8))
        } catch {
            return .failure(TestReportProblem(text: "is not valid JSON: \(error)"))
        }
        guard json["format"]?.stringValue == format else {
            return .failure(TestReportProblem(text: "does not declare \"format\": \"\(format)\""))
        }
        guard let id = json["id"]?.stringValue, let version = json["full_version"]?.stringValue,
            let artifact = json["artifact_sha256"]?.stringValue, let suites = json["suites"]?.arrayValue
        else {
            return .failure(TestReportProblem(text: "lacks one of id, full_version, artifact_sha256, suites"))
        }
        var out: [Suite] = []
        for suite in suites {
            guard let name = suite["name"]?.stringValue, let passed = suite["passed"]?.int64Value,
                let failed = suite["failed"]?.int64Value, let notRun = suite["not_run"]?.int64Value
            else {
                return .failure(TestReportProblem(text: "has a suite without name, passed, failed and not_run"))
            }
            out.append(
                Suite(
                    name: name, passed: passed, failed: failed, notRun: notRun,
                    notRunJustification: suite["not_run_justification"]?.stringValue))
        }
        return .success(TestReport(id: id, fullVersion: version, artifactSHA256: artifact.lowercased(), suites: out))
    }
}

/// Why a file is not a test report.
public struct TestReportProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problem, as the rest of a sentence about the file.
    public var text: String
    /// The problem.
    public var description: String { text }
}

/// REL-001: verification is complete on this artifact. Every test report of the release
/// (`*.test-report.json`) names the release's full version and its artifact digest
/// (`ReleaseUnderCheck.artifactDigest`), has no failed test, no test not run without a
/// justification, and the reports hold a regression suite.
public struct TestReportRule: GateRule {
    /// A rule for the release's test reports.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["REL-001"] }

    /// Findings about the test reports.
    public func check(_ context: GateContext) -> [Finding] {
        let release = context.release
        let artifact = release.artifactDigest?.hex
        guard !release.testReports.isEmpty else {
            guard context.policy.notes.requires(.testReports) else { return [] }
            return [
                Finding(
                    "REL-001", file: release.path,
                    "the release carries no test report (*\(TestReport.suffix)), which policy \(context.policy.name) requires",
                    hint:
                        "Ship the test system's report as verification/<ID>\(TestReport.suffix) with \"full_version\": \"\(release.version)\" and \"artifact_sha256\": \"\(artifact ?? "<artifact digest>")\" (docs/release-gate.md, Test reports)"
                )
            ]
        }
        var findings: [Finding] = []
        var regression = false
        for (relative, bytes) in release.testReports {
            // As the user can open it: under the spec's folder for a spec, release-relative in a bundle.
            let path = release.root.map { $0 == "." ? relative : $0 + "/" + relative } ?? relative
            let report: TestReport
            switch TestReport.parse(bytes) {
            case .failure(let problem):
                findings.append(
                    Finding(
                        "REL-001", file: path, "the test report \(problem)",
                        hint: "Write it as Schemas/test-report.schema.json describes"))
                continue
            case .success(let r): report = r
            }
            if report.fullVersion != release.version {
                findings.append(
                    Finding(
                        "REL-001", file: path,
                        "test report \(report.id) is for \(VersionNaming.escaped(report.fullVersion)), not \(release.version)",
                        hint: "Run the tests on \(release.version) and ship that report"))
            }
            if let artifact, report.artifactSHA256 != artifact {
                findings.append(
                    Finding(
                        "REL-001", file: path,
                        "test report \(report.id) tested artifact \(report.artifactSHA256), but this release's artifact digest is \(artifact)",
                        hint:
                            "Run the tests on this artifact (artifact_sha256: \(artifact)); a report of other content is no evidence for it"
                    ))
            }
            if report.suites.isEmpty {
                findings.append(
                    Finding(
                        "REL-001", file: path, "test report \(report.id) lists no suite", hint: "List every suite run"))
            }
            for suite in report.suites {
                if suite.name.lowercased().contains("regression") { regression = true }
                if suite.failed > 0 {
                    findings.append(
                        Finding(
                            "REL-001", file: path,
                            "test report \(report.id): \(suite.failed) test\(suite.failed == 1 ? "" : "s") of suite \(suite.name) failed",
                            hint: "Fix the failures and test this artifact again; a release has 0 failed tests"))
                }
                if suite.notRun > 0 && (suite.notRunJustification.map { $0.trimmingWhitespace.isEmpty } ?? true) {
                    findings.append(
                        Finding(
                            "REL-001", file: path,
                            "test report \(report.id): \(suite.notRun) test\(suite.notRun == 1 ? "" : "s") of suite \(suite.name) not run, without a justification",
                            hint: "Run them, or give not_run_justification with the reason and its record"))
                }
            }
        }
        if !regression {
            findings.append(
                Finding(
                    "REL-001", file: release.testReports[0].path, "no test report holds a regression suite",
                    hint: "Include the regression suite run on this artifact (a suite whose name says regression)"))
        }
        return findings
    }
}

/// VER-012: separately versioned modules (an AI model, medical middleware) declare their version
/// format and map to the system's full version. Each `modules` item names its component, its own
/// version, the format that version follows and the naming rule that defines it, and the full
/// version it is released in (this release's). Where the policy requires the record, every model
/// component of the release is declared.
///
/// ```yaml
/// modules:
///   - {name: nodule-detector-model, component: nodule-detector, version: M7, format: "M<N>",
///      naming_rule_ref: QMS-WI-006 C/2, full_version: V2.3.1.1024}
/// ```
/// A `format` of `full-version` says the module carries the system's full version itself; in any
/// other format `<N>` stands for a number without leading zeros and every other character for itself.
public struct ModuleVersionRule: GateRule {
    /// The format of a module that carries the system's full version.
    public static let fullVersionFormat = "full-version"
    /// The members each module declares.
    public static let members = ["name", "component", "version", "format", "naming_rule_ref", "full_version"]

    /// A rule for the `modules` record.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["VER-012"] }

    /// Findings about the module declarations.
    public func check(_ context: GateContext) -> [Finding] {
        guard let notes = context.notes else { return [] }
        let release = context.release
        var models: [String] = []
        for f in release.files where f.kind == .model && !models.contains(f.component) { models.append(f.component) }
        // The naming rule the notes' header already names (NOTES-002), when it does.
        let rule = ["naming_rule_doc_id", "naming_rule_doc_version"].compactMap { notes.frontMatter($0)?.value }
        let ruleRef = rule.count == 2 ? rule.joined(separator: " ") : "<naming rule ID and revision>"
        func example(_ component: String) -> String {
            "{name: \(component), component: \(component), version: \(release.version), format: \(Self.fullVersionFormat), naming_rule_ref: \(ruleRef), full_version: \(release.version)}"
        }
        guard let record = notes.record(NotesRecord.modules.rawValue) else {
            guard context.policy.notes.requires(.modules), !models.isEmpty else { return [] }
            return [
                Finding(
                    "VER-012", file: notes.file, line: 1,
                    "the notes declare no modules; the release's model component\(models.count == 1 ? "" : "s") \(models.joined(separator: ", ")) need a declared version format and mapping",
                    hint: "Add to the front matter: modules: [\(models.map(example).joined(separator: ", "))]")
            ]
        }
        var findings: [Finding] = []
        func add(_ node: FrontMatterNode, _ message: String, _ hint: String) {
            findings.append(Finding("VER-012", file: notes.file, line: node.line, message, hint: hint))
        }
        guard case .sequence(let items) = record.value else {
            add(record, "modules is not a list", "Write modules: [\(models.map(example).joined(separator: ", "))]")
            return findings
        }
        var declared = Set<String>()
        for (i, item) in items.enumerated() {
            let name = item["name"]?.string ?? "modules[\(i)]"
            let absent = Self.members.filter { item[$0]?.string == nil }
            if !absent.isEmpty {
                add(
                    item, "module \(name) lacks \(absent.joined(separator: ", "))",
                    "Declare \(Self.members.joined(separator: ", ")) for each module")
            }
            if let component = item["component"]?.string {
                declared.insert(component)
                if !release.componentNames.contains(component) {
                    add(
                        item["component"]!,
                        "module \(name) names component \(component), which the release does not have",
                        "Name one of: \(release.componentNames.joined(separator: ", "))")
                }
            }
            if let full = item["full_version"]?.string, full != release.version {
                add(
                    item["full_version"]!,
                    "module \(name) maps to full version \(full), but the release is \(release.version)",
                    "Record the mapping to this release: full_version: \(release.version)")
            }
            if let version = item["version"]?.string, let format = item["format"]?.string,
                !Self.matches(version, format: format, fullVersion: release.version)
            {
                add(
                    item["version"]!,
                    "module \(name)'s version \(version) does not follow its declared format \(format)",
                    format == Self.fullVersionFormat
                        ? "A module in format full-version carries the release's version: version: \(release.version)"
                        : "Write the version in the format the naming rule declares (<N>: a number without leading zeros)"
                )
            }
        }
        for component in models where !declared.contains(component) && context.policy.notes.requires(.modules) {
            add(
                record, "model component \(component) is not declared in modules",
                "Add \(example(component)) to modules")
        }
        return findings
    }

    /// Whether `version` follows `format` (`full-version`, or a pattern with `<N>` placeholders).
    public static func matches(_ version: String, format: String, fullVersion: String) -> Bool {
        if format == fullVersionFormat { return version == fullVersion }
        var v = Substring(version)
        var f = Substring(format)
        while !f.isEmpty {
            if f.hasPrefix("<N>") {
                let digits = v.prefix { $0.isASCII && $0.isNumber }
                guard !digits.isEmpty, digits.count <= 18, digits == "0" || digits.first != "0" else { return false }
                v = v.dropFirst(digits.count)
                f = f.dropFirst(3)
            } else {
                guard v.first == f.first else { return false }
                v = v.dropFirst()
                f = f.dropFirst()
            }
        }
        return v.isEmpty
    }
}

/// A full-version literal in a source file: the release's own version, or (any policy) a `V`
/// followed by four dotted numbers, as `V2.3.1.1024`.
public struct VersionLiteral: Sendable, Equatable {
    /// Largest source file scanned; larger ones (rarely source) are skipped.
    public static let maxBytes = 4 << 20
    /// Most literals kept from one file.
    public static let maxPerFile = 100

    /// Release-relative path of the file.
    public var path: String
    /// 1-based line.
    public var line: Int
    /// The literal.
    public var text: String

    /// A literal `text` at `line` of `path`.
    public init(path: String, line: Int, text: String) {
        self.path = path
        self.line = line
        self.text = text
    }

    /// The literals of `bytes` (read as UTF-8, invalid bytes replaced), at most `maxPerFile`.
    public static func scan(_ bytes: [UInt8], path: String, version: String) -> [VersionLiteral] {
        var out: [VersionLiteral] = []
        let text = String(decoding: bytes, as: UTF8.self)
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard line.contains("V") || line.contains(version) else { continue }
            var found = tokens(in: line)
            if !found.contains(version) && GateText.containsWord(String(line), version) { found.append(version) }
            for token in found where out.count < maxPerFile {
                out.append(VersionLiteral(path: path, line: i + 1, text: token))
            }
        }
        return out
    }

    /// `V<n>.<n>.<n>.<n>` tokens not touching a letter, digit or `_`.
    static func tokens(in line: Substring) -> [String] {
        let s = Array(line.unicodeScalars)
        func isWord(_ c: Unicode.Scalar) -> Bool { c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" }
        var out: [String] = []
        var i = 0
        while i < s.count {
            guard s[i] == "V", i == 0 || !isWord(s[i - 1]) else {
                i += 1
                continue
            }
            var j = i + 1
            var fields = 0
            while fields < 4 {
                let start = j
                while j < s.count, ("0"..."9").contains(s[j]) { j += 1 }
                guard j > start else { break }
                fields += 1
                if fields < 4 {
                    guard j < s.count, s[j] == "." else { break }
                    j += 1
                }
            }
            if fields == 4 && (j == s.count || (!isWord(s[j]) && s[j] != ".")) {
                out.append(String(String.UnicodeScalarView(s[i..<j])))
                i = j
            } else {
                i += 1
            }
        }
        return out
    }
}

/// VER-014: the version comes from the build, never from a literal in the code. A full-version
/// literal in a file of a code component is refused unless the file is one of the version modules
/// the notes declare (`version_module: service/VERSION`, or a list): the one place the pipeline
/// stamps and the code reads.
public struct HardCodedVersionRule: GateRule {
    /// Most findings listed one by one; the rest are counted in one more.
    public static let maxFindings = 20

    /// A rule for the code components.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["VER-014"] }

    /// One finding per literal outside the version modules.
    public func check(_ context: GateContext) -> [Finding] {
        // The notes declare the version module; without them (NOTES-001) every file would be suspect.
        guard context.notes != nil else { return [] }
        let release = context.release
        let entry = context.notes?.record("version_module")
        let modules = Set(
            (entry?.items.isEmpty == false ? entry!.items : entry.map { [$0] } ?? []).compactMap(\.string))
        let outside = release.versionLiterals.filter { !modules.contains($0.path) }
        let hint =
            modules.isEmpty
            ? "Read the version from one version module the pipeline stamps, and declare it in the notes: version_module: <path>"
            : "Read the version from \(modules.sorted().joined(separator: ", ")) instead of writing it in the code"
        var findings: [Finding] = []
        for literal in outside.prefix(Self.maxFindings) {
            let shown = release.root.map { $0 == "." ? literal.path : $0 + "/" + literal.path } ?? literal.path
            findings.append(
                Finding(
                    "VER-014", file: shown, line: literal.line,
                    "the code holds the full-version literal \(literal.text) outside the version module", hint: hint))
        }
        if outside.count > Self.maxFindings {
            findings.append(
                Finding(
                    "VER-014", file: release.path,
                    "\(outside.count - Self.maxFindings) more full-version literals in the code", hint: hint))
        }
        for path in modules.sorted() where release.file(path) == nil {
            findings.append(
                Finding(
                    "VER-014", file: context.notes?.file ?? release.path, line: entry?.line,
                    "version_module \(path) is not a file of the release",
                    hint: "Name the file the code reads the version from, by its path in the release"))
        }
        return findings
    }
}
