/// The qualification results of an IQ report as HTML (annex C.3-C.5): the baseline figures, every
/// reference case with its answer and time, and the time per case as a small inline SVG chart
/// (no script, no external resource: the page's Content-Security-Policy allows inline SVG).
enum IQReportHTMLQualification {
    private static func e(_ text: String) -> String { IQReportHTML.escape(text) }

    static func ms(_ us: Int64) -> String {
        "\(us / 1000).\(String(format: "%01d", (us % 1000) / 100)) ms"
    }

    /// The section, or "" when the report has no qualification measurements.
    static func section(_ report: IQReport) -> String {
        guard let q = report.qualification else { return "" }
        func evidence(_ id: CheckID, _ key: String) -> String? {
            report.checks.first { $0.id == id }?.evidence.first { $0.key == key }?.value
        }
        var rows: [(String, String)] = []
        rows.append(("运行时间 Run", "\(e(Timestamp.iso8601(q.startTime))) – \(e(Timestamp.iso8601(q.endTime)))"))
        if let p50 = q.p50Microseconds, let p95 = q.p95Microseconds {
            let limits = [
                evidence(.qualificationLatency, "thresholdP50Milliseconds").map { "p50 ≤ \($0) ms" },
                evidence(.qualificationLatency, "thresholdP95Milliseconds").map { "p95 ≤ \($0) ms" },
            ].compactMap { $0 }
            rows.append(
                (
                    "单例耗时 Time per case",
                    "p50 \(ms(p50)), p95 \(ms(p95)) over \(q.cases.filter { $0.error == nil }.count) cases"
                        + (limits.isEmpty ? "" : " (threshold \(limits.joined(separator: ", ")))")
                ))
        }
        if !q.cases.isEmpty {
            let correct = q.cases.count(where: \.correct)
            rows.append(
                (
                    "准确率 Accuracy",
                    "\(correct) of \(q.cases.count) as labelled"
                        + (evidence(.qualificationAccuracy, "minimum").map { " (minimum \(e($0)))" } ?? "")
                ))
        }
        if let c = q.concurrency {
            rows.append(
                (
                    "并发 Concurrency",
                    "\(c.succeeded) of \(c.requests) answered by \(c.clients) clients at once"
                        + (c.errors.isEmpty
                            ? ""
                            : "; errors: "
                                + c.errors.sorted { $0.key < $1.key }.map { "\(e($0.key)) × \($0.value)" }
                                .joined(separator: ", "))
                ))
        }
        if let r = q.resources {
            rows.append(
                (
                    "服务资源 Service resources",
                    "peak memory \(r.servicePeakRSSBytes.map(EnvironmentCheck.size) ?? "not sampled"), peak CPU \(r.servicePeakCPUPercent.map { "\($0)%" } ?? "not sampled") of one core, mean \(r.serviceMeanCPUPercent.map { "\($0)%" } ?? "?")"
                ))
            rows.append(
                (
                    "主机 Machine (5.3.1)",
                    "\(r.samples) samples over \(String(format: "%.1f", r.seconds)) s: CPU busy mean \(r.machineCPUMeanPercent.map { "\($0)%" } ?? "?"), peak \(r.machineCPUPeakPercent.map { "\($0)%" } ?? "?"); memory available at least \(r.machineMemoryAvailableMinBytes.map(EnvironmentCheck.size) ?? "?") of \(r.machineMemoryTotalBytes.map(EnvironmentCheck.size) ?? "?"); disk free at least \(r.diskFreeMinBytes.map(EnvironmentCheck.size) ?? "?")"
                ))
        }
        var h = "<table class=\"kv\"><colgroup><col style=\"width:28%\"><col></colgroup><tbody>\n"
        for (k, v) in rows { h += "<tr><th>\(k)</th><td>\(v)</td></tr>\n" }
        h += "</tbody></table>\n"
        if !q.cases.isEmpty {
            h += chart(q, p50Limit: evidence(.qualificationLatency, "thresholdP50Milliseconds").flatMap { Int64($0) })
            h +=
                "<table class=\"grid\"><colgroup><col style=\"width:15%\"><col style=\"width:19%\"><col style=\"width:19%\"><col style=\"width:27%\"><col></colgroup>\n"
            h +=
                "<thead><tr><th>病例 Case</th><th>期望 Expected</th><th>回答 Answer</th><th>结果 Result</th><th>耗时 Time</th></tr></thead><tbody>\n"
            for c in q.cases {
                let answer = c.answer.map(show) ?? "—"
                let result =
                    c.correct
                    ? "<span class=\"status pass\">✓ 符合 MATCH</span>"
                    : "<span class=\"status fail\">✗ 不符 MISMATCH</span>"
                let time = ms(c.microseconds) + (c.error.map { "<br><span class=\"note\">\(e($0))</span>" } ?? "")
                h +=
                    "<tr class=\"\(c.correct ? "pass" : "fail")\"><td><code>\(e(c.id))</code></td><td>\(e(show(c.expected)))</td><td>\(e(answer))</td><td>\(result)</td><td>\(time)</td></tr>\n"
            }
            h += "</tbody></table>\n"
        }
        return
            "<section id=\"qualification\">\n<h2>7.1 <span lang=\"zh-CN\">现场功能与基线确认</span> / <span lang=\"en\">On-site qualification results</span></h2>\n\(h)</section>\n\n"
    }

    static func show(_ v: JSONValue) -> String { String(decoding: CanonicalJSON.encode(v), as: UTF8.self) }

    /// Time per reference case as bars (red for a case answered wrongly or not at all), with the
    /// p50 threshold as a dashed line when the release has one. 170 mm wide, 40 mm high.
    static func chart(_ q: QualificationMeasurements, p50Limit: Int64?) -> String {
        let width = 640.0
        let height = 150.0
        let left = 48.0
        let bottom = 22.0
        let top = 10.0
        let values = q.cases.map { Double($0.microseconds) / 1000 }
        let limit = p50Limit.map(Double.init)
        // Scaled to the cases, not to a threshold far above them (bars of 2 px say nothing); a
        // threshold off the scale is named in the corner instead of drawn.
        let largest = max(values.max() ?? 1, 0.1)
        let drawn = limit.map { $0 <= largest * 2 } ?? false
        let maximum = max(largest, drawn ? limit! : 0) * 1.1
        let plot = height - bottom - top
        let step = (width - left - 8) / Double(max(values.count, 1))
        func y(_ v: Double) -> Double { top + plot - v / maximum * plot }
        var s =
            "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"Time per reference case in milliseconds\">\n"
        s +=
            "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plot)\" stroke=\"#333\"/><line x1=\"\(left)\" y1=\"\(top + plot)\" x2=\"\(width - 4)\" y2=\"\(top + plot)\" stroke=\"#333\"/>\n"
        for fraction in [0.0, 0.5, 1.0] {
            let v = maximum / 1.1 * fraction
            s +=
                "<text x=\"\(left - 4)\" y=\"\(String(format: "%.1f", y(v) + 3))\" font-size=\"9\" text-anchor=\"end\">\(String(format: "%.1f", v))</text>\n"
        }
        for (i, c) in q.cases.enumerated() {
            let v = values[i]
            let x = left + Double(i) * step + step * 0.15
            s +=
                "<rect x=\"\(String(format: "%.1f", x))\" y=\"\(String(format: "%.1f", y(v)))\" width=\"\(String(format: "%.1f", step * 0.7))\" height=\"\(String(format: "%.1f", top + plot - y(v)))\" fill=\"\(c.correct ? "#3b7dd8" : "#a4141b")\"><title>\(e(c.id)): \(String(format: "%.1f", v)) ms</title></rect>\n"
        }
        if let limit, !drawn {
            s +=
                "<text x=\"\(width - 6)\" y=\"\(top + 8)\" font-size=\"9\" text-anchor=\"end\" fill=\"#1b6e2f\">p50 threshold \(Int(limit)) ms: above this scale</text>\n"
        } else if let limit {
            s +=
                "<line x1=\"\(left)\" y1=\"\(String(format: "%.1f", y(limit)))\" x2=\"\(width - 4)\" y2=\"\(String(format: "%.1f", y(limit)))\" stroke=\"#a4141b\" stroke-dasharray=\"4 3\"/><text x=\"\(width - 6)\" y=\"\(String(format: "%.1f", y(limit) - 3))\" font-size=\"9\" text-anchor=\"end\" fill=\"#a4141b\">p50 threshold \(Int(limit)) ms</text>\n"
        }
        s +=
            "<text x=\"\(left + (width - left) / 2)\" y=\"\(height - 6)\" font-size=\"9\" text-anchor=\"middle\">reference cases 1–\(q.cases.count), in label order; ms per case (sent one at a time)</text>\n"
        s += "</svg><figcaption class=\"note\">每例耗时 / Time per case (ms)</figcaption></figure>\n"
        return s
    }
}
