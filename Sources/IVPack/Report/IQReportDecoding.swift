extension IQReport {
    /// The report that `bytes` (a report as `verify --report` wrote it) records, for rendering it
    /// again (`verify-report --html`); nil when the bytes break the report's rules
    /// (`IQReportRules`), so a page is only ever made of a consistent report.
    public init?(reportBytes bytes: [UInt8]) {
        guard IQReportRules.problems(bytes).isEmpty,
            let v = try? JSONParser.parse(
                bytes, limits: JSONLimits(maxBytes: IQReport.maxBytes, maxDepth: IQReport.maxDepth))
        else { return nil }
        func text(_ value: JSONValue?) -> String? { value?.stringValue }
        guard let reportID = text(v["reportID"]), let purpose = text(v["purpose"]),
            let start = text(v["time"]?["start"]).flatMap(Timestamp.parseISO8601),
            let end = text(v["time"]?["end"]).flatMap(Timestamp.parseISO8601),
            let bundleFile = text(v["object"]?["bundleFile"]), let installer = text(v["people"]?["installer"]),
            let source = text(v["people"]?["installerSource"]).flatMap(InstallerSource.init(rawValue:)),
            let operatorUser = text(v["people"]?["operator"]), let host = text(v["people"]?["host"]),
            let checkValues = v["checks"]?.arrayValue, let statement = text(v["conclusion"]?["statement"]),
            let conclusion = text(v["conclusion"]?["result"]).flatMap(Conclusion.init(rawValue:))
        else { return nil }
        var checks: [Check] = []
        for c in checkValues {
            guard let id = text(c["id"]), let title = text(c["title"]),
                let status = text(c["status"]).flatMap(Check.Status.init(rawValue:))
            else { return nil }
            checks.append(
                Check(
                    CheckID(rawValue: id), title: title, status: status,
                    details: c["details"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                    evidence: c["evidence"]?.objectValue?.compactMap { m in m.value.stringValue.map { (m.key, $0) } }
                        ?? []))
        }
        let object = v["object"]
        let verification = VerifyReport(
            bundle: bundleFile, manifestDigest: text(object?["manifestSHA256"]).flatMap(SHA256Digest.init(hex:)),
            product: text(object?["product"]), version: text(object?["version"]), checks: checks, time: start)
        self.init(
            verification: verification,
            context: Context(
                purpose: purpose, siteID: text(v["place"]?["siteID"]), startTime: start, endTime: end,
                operatorUser: operatorUser, host: host,
                operatingSystem: text(v["environment"]?["operatingSystem"]) ?? "", vendor: text(object?["vendor"]),
                bundleBytes: object?["bundleBytes"]?.int64Value))
        self.reportID = reportID
        self.people = People(
            installer: installer, installerSource: source,
            installerCertificateSHA256: text(v["people"]?["installerCertificateSHA256"]), operatorUser: operatorUser,
            host: host)
        self.ivpackVersion = text(v["environment"]?["ivpackVersion"]) ?? ivpackVersion
        let build = v["environment"]?["ivpackBuild"]
        if let build, let commit = text(build["commit"]), let date = text(build["date"]),
            case .array(let libraries)? = build["libraries"]
        {
            self.ivpackBuild = BuildInfo(
                version: self.ivpackVersion, commit: commit, date: date, libraries: libraries.compactMap(text))
        } else {
            self.ivpackBuild = nil
        }
        self.conclusion = conclusion
        self.conclusionStatement = statement
        self.components = IQReportComponent.decode(v["components"])
        self.qualification = v["qualification"].flatMap(QualificationMeasurements.init(json:))
        if let audit = v["audit"], let log = text(audit["log"]), let events = audit["events"]?.int64Value {
            self.audit = IQReportAudit(log: log, events: Int(events), headSHA256: text(audit["headSHA256"]))
        }
    }
}
