import Foundation

/// Text, JSON and HTML renderings of replay reports.
public enum ReportRendering {
    /// A side-by-side summary table for the terminal.
    public static func table(_ reports: [ReplayReport]) -> String {
        var rows: [[String]] = [["pipeline", "model", "events", "examples", "logloss", "AUC", "accuracy", "hit@10", "NDCG@10", "cand. recall", "events/s", "peak RSS"]]
        for r in reports {
            rows.append([
                r.pipeline, r.model, "\(r.events)", "\(r.examples)",
                String(format: "%.4f", r.logloss), String(format: "%.4f", r.auc), String(format: "%.4f", r.accuracy),
                r.hitRateAt10.map { String(format: "%.4f", $0) } ?? "-", r.ndcgAt10.map { String(format: "%.4f", $0) } ?? "-",
                r.candidateRecall.map { String(format: "%.4f", $0) } ?? "-",
                String(format: "%.0f", r.eventsPerSecond), String(format: "%.1f MiB", Double(r.peakRSSBytes) / 1_048_576),
            ])
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        var out = ""
        for (i, row) in rows.enumerated() {
            out += row.enumerated().map { c, cell in
                c < 2 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ") + "\n"
            if i == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        for r in reports where r.rejected > 0 || r.counters.overflowNegatives > 0 || r.counters.rejectedUpdates > 0 {
            let reasons = r.rejectedByReason.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            out += "\(r.pipeline): rejected \(r.rejected) [\(reasons)], overflow negatives \(r.counters.overflowNegatives), refused updates \(r.counters.rejectedUpdates)\n"
        }
        if let elapsed = elapsedLine(reports) { out += elapsed + "\n" }
        for r in reports { if let ope = r.ope { out += offPolicyTable(ope) } }
        return out
    }

    /// The off-policy block of the text report: the three estimates with their intervals, then what was counted.
    static func offPolicyTable(_ o: OffPolicyReport) -> String {
        func f(_ x: Double) -> String { x.isFinite ? String(format: "%.4f", x) : "-" }
        let window = o.rewards.windowMs % 1000 == 0 ? "\(o.rewards.windowMs / 1000)s" : "\(o.rewards.windowMs)ms"
        var out = "\noff-policy value of policy '\(o.policy)'" + (o.exploration.map { " (\($0))" } ?? "")
            + " (the item it puts first; reward: \(o.rewards.types.joined(separator: "/")) "
            + "on it within \(window)), \(o.decisions) decisions, \(o.matched) matched:\n"
        var rows = [["estimator", "value", "95% CI (normal)", "std. error"]]
        for (name, v, lo, hi, se) in [
            ("IPS", o.ips, o.ciLow.ips, o.ciHigh.ips, o.standardError.ips),
            ("SNIPS", o.snips, o.ciLow.snips, o.ciHigh.snips, o.standardError.snips),
            ("DR", o.dr, o.ciLow.dr, o.ciHigh.dr, o.standardError.dr),
        ] {
            rows.append([name, f(v), "[\(f(lo)), \(f(hi))]", f(se)])
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        for (i, row) in rows.enumerated() {
            out += row.enumerated().map { c, cell in
                c == 0 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ") + "\n"
            if i == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        out += "direct method alone \(f(o.directMethod)); logged policy's mean reward \(f(o.loggedReward)); "
            + "weights: mean \(f(o.meanWeight)), max \(f(o.maxWeight)), effective sample size \(String(format: "%.0f", o.effectiveSampleSize))\n"
        let w = o.rewards
        out += "rewards: \(w.rewarded) decisions rewarded; not rewards: \(w.onOtherItems) on other items, \(w.repeated) repeated, "
            + "\(w.late) late, \(w.unknownRanking) for unknown rankings, \(w.badRankingID) bad ranking_id; "
            + "\(w.feedbackWithoutRanking) feedback events without ranking_id\n"
        let reasons = o.decisionsRejectedByReason.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        out += "decisions: \(o.decisionsRejected) lines rejected\(reasons.isEmpty ? "" : " [\(reasons)]"), "
            + "\(o.repeatedRankings) repeated ranking ids, \(o.unknownCandidates) candidates unknown to the catalog (scored from their id)\n"
        for message in o.firstRejections { out += "  \(message)\n" }
        return out
    }

    /// JSON: the report object for one pipeline, or `{"pipelines": [...]}` for a comparison.
    public static func json(_ reports: [ReplayReport]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        if reports.count == 1 { return try encoder.encode(reports[0]) }
        return try encoder.encode(["pipelines": reports])
    }

    /// The run as a whole, on its threads (the table's events/s is each pipeline's cost on one core):
    /// `elapsed 0.68 s on 2 threads: 2293519 events/s`; nil when the run was not timed as a whole.
    static func elapsedLine(_ reports: [ReplayReport]) -> String? {
        guard let first = reports.first, let elapsed = first.elapsedSeconds, elapsed > 0 else { return nil }
        let threads = first.threads.map { " on \($0) thread\($0 == 1 ? "" : "s")" } ?? ""
        return String(format: "elapsed %.2f s%@: %.0f events/s", elapsed, threads, Double(first.events) / elapsed)
    }

    /// A self-contained HTML page: summary table, progressive logloss/AUC curves and calibration plot as inline SVG.
    public static func html(_ reports: [ReplayReport]) -> String {
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var body = "<h1>Feedloop replay</h1>\n<p>Input: <code>\(esc(reports.first?.input ?? ""))</code>. Progressive validation: each example is scored when it arrives and learned when its label is known.</p>\n"
        body += "<table><tr><th>pipeline</th><th>model</th><th>optimizer</th><th>examples</th><th>logloss</th><th>AUC</th><th>accuracy</th><th>hit@10</th><th>NDCG@10</th><th>candidate recall</th><th>events/s</th></tr>\n"
        for (i, r) in reports.enumerated() {
            body += "<tr><td><span style=\"color:\(colors[i % colors.count])\">&#9632;</span> \(esc(r.pipeline))</td><td>\(esc(r.model))</td><td>\(esc(r.optimizer))</td><td>\(r.examples)</td>"
            body += String(format: "<td>%.4f</td><td>%.4f</td><td>%.4f</td>", r.logloss, r.auc, r.accuracy)
            body += "<td>\(r.hitRateAt10.map { String(format: "%.4f", $0) } ?? "-")</td><td>\(r.ndcgAt10.map { String(format: "%.4f", $0) } ?? "-")</td>"
            body += "<td>\(r.candidateRecall.map { String(format: "%.4f", $0) } ?? "-")</td>"
            body += String(format: "<td>%.0f</td></tr>\n", r.eventsPerSecond)
        }
        body += "</table>\n"
        if let elapsed = elapsedLine(reports) {
            body += "<p>The run as a whole: \(elapsed). The table's events/s is each pipeline's own cost on one core.</p>\n"
        }
        for r in reports { if let ope = r.ope { body += offPolicyHTML(ope, esc) } }
        let series: [(String, (ReplayReport.Window) -> Double)] = [
            ("Cumulative logloss", { $0.cumulativeLogloss }), ("Cumulative AUC", { $0.cumulativeAUC }),
            ("Logloss per window", { $0.logloss }), ("AUC per window", { $0.auc }),
        ]
        body += "<div class=\"charts\">\n"
        for (title, value) in series {
            let lines = reports.enumerated().map { i, r in
                (colors[i % colors.count], r.windows.map { (Double($0.endExample), value($0)) })
            }
            body += lineChart(title: title, xLabel: "examples", series: lines)
        }
        body += calibrationChart(reports.enumerated().map { (colors[$0.offset % colors.count], $0.element.calibration) })
        body += "</div>\n"
        return """
        <!doctype html><html><head><meta charset="utf-8"><title>Feedloop replay</title>
        <style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:16px;margin-top:1em}svg{background:#fafafa;border:1px solid #e5e5e5}</style>
        </head><body>
        \(body)</body></html>

        """
    }

    /// The off-policy section of the HTML report: the estimates with their intervals drawn as bars, and the counts.
    static func offPolicyHTML(_ o: OffPolicyReport, _ esc: (String) -> String) -> String {
        func f(_ x: Double) -> String { x.isFinite ? String(format: "%.4f", x) : "-" }
        var body = "<h2>Off-policy value of policy <code>\(esc(o.policy))</code>"
            + (o.exploration.map { " (<code>\(esc($0))</code>)" } ?? "") + "</h2>\n"
        body += "<p>The expected reward of the item the policy puts first, from <code>\(esc(o.decisionsFile))</code>: "
            + "\(o.decisions) decisions, \(o.matched) matched. Reward: \(esc(o.rewards.types.joined(separator: "/"))) on the "
            + "logged first item within \(o.rewards.windowMs) ms. Intervals: \(esc(o.interval)).</p>\n"
        body += "<table><tr><th>estimator</th><th>value</th><th>95% CI low</th><th>95% CI high</th><th>std. error</th><th></th></tr>\n"
        let rows = [
            ("IPS", o.ips, o.ciLow.ips, o.ciHigh.ips, o.standardError.ips),
            ("SNIPS", o.snips, o.ciLow.snips, o.ciHigh.snips, o.standardError.snips),
            ("DR", o.dr, o.ciLow.dr, o.ciHigh.dr, o.standardError.dr),
        ]
        let ends = rows.flatMap { [$0.2, $0.3] }.filter(\.isFinite)
        let lo = min(ends.min() ?? 0, 0), hi = max(ends.max() ?? 1, lo + 1e-9)
        for (name, v, l, h, se) in rows {
            var bar = ""
            if v.isFinite, l.isFinite, h.isFinite {
                let x = { (t: Double) in 4 + (t - lo) / (hi - lo) * 232 }
                bar = String(format: "<svg width=\"240\" height=\"14\"><line x1=\"%.1f\" x2=\"%.1f\" y1=\"7\" y2=\"7\" stroke=\"#1f77b4\" stroke-width=\"2\"/><circle cx=\"%.1f\" cy=\"7\" r=\"3.5\" fill=\"#1f77b4\"/></svg>", x(l), x(h), x(v))
            }
            body += "<tr><td>\(name)</td><td>\(f(v))</td><td>\(f(l))</td><td>\(f(h))</td><td>\(f(se))</td><td>\(bar)</td></tr>\n"
        }
        body += "</table>\n"
        let w = o.rewards
        body += "<p>Direct method alone \(f(o.directMethod)); logged policy's mean reward \(f(o.loggedReward)); weights: mean "
            + "\(f(o.meanWeight)), max \(f(o.maxWeight)), effective sample size \(String(format: "%.0f", o.effectiveSampleSize)). "
            + "Rewards: \(w.rewarded) decisions rewarded; not rewards: \(w.onOtherItems) on other items, \(w.repeated) repeated, "
            + "\(w.late) late, \(w.unknownRanking) for unknown rankings, \(w.badRankingID) bad ranking_id; "
            + "\(w.feedbackWithoutRanking) feedback events without ranking_id. Decision lines rejected: \(o.decisionsRejected)"
            + o.decisionsRejectedByReason.sorted { $0.key < $1.key }.map { " \(esc($0.key))=\($0.value)" }.joined()
            + "; \(o.unknownCandidates) candidates unknown to the catalog.</p>\n"
        if !o.firstRejections.isEmpty {
            body += "<ul>" + o.firstRejections.map { "<li><code>\(esc($0))</code></li>" }.joined() + "</ul>\n"
        }
        return body
    }

    static func lineChart(title: String, xLabel: String, series: [(String, [(Double, Double)])]) -> String {
        let w = 460.0, h = 280.0, left = 56.0, right = 12.0, top = 28.0, bottom = 36.0
        let points = series.flatMap(\.1).filter { $0.1.isFinite }
        guard let minX = points.map(\.0).min(), let maxX = points.map(\.0).max(),
              var minY = points.map(\.1).min(), var maxY = points.map(\.1).max() else { return "" }
        if maxY - minY < 1e-9 { minY -= 0.01; maxY += 0.01 }
        let pad = (maxY - minY) * 0.05
        minY -= pad; maxY += pad
        let sx = { (x: Double) in left + (maxX > minX ? (x - minX) / (maxX - minX) : 0.5) * (w - left - right) }
        let sy = { (y: Double) in top + (1 - (y - minY) / (maxY - minY)) * (h - top - bottom) }
        var svg = "<svg width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<text x=\"\(Int(w / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">\(title)</text>"
        for k in 0...4 {
            let y = minY + (maxY - minY) * Double(k) / 4
            svg += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>", left, w - right, sy(y), sy(y))
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\">%.3f</text>", left - 4, sy(y) + 3, y)
        }
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">", (left + w - right) / 2, h - 8)
            + String(format: "\(xLabel) (%.0f – %.0f)</text>", minX, maxX)
        for (color, pts) in series {
            let path = pts.filter { $0.1.isFinite }.map { String(format: "%.1f,%.1f", sx($0.0), sy($0.1)) }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" points=\"\(path)\"/>"
        }
        return svg + "</svg>\n"
    }

    static func calibrationChart(_ series: [(String, [ReplayReport.Calibration])]) -> String {
        let size = 280.0, left = 44.0, top = 28.0, bottom = 36.0, right = 12.0
        let plot = size - top - bottom
        let sx = { (x: Double) in left + x * plot }
        let sy = { (y: Double) in top + (1 - y) * plot }
        var svg = "<svg width=\"\(Int(left + plot + right))\" height=\"\(Int(size))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<text x=\"\(Int((left + plot) / 2 + 10))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Calibration</text>"
        svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>", sx(0), sy(0), sx(1), sy(1))
        svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#ccc\"/>", sx(0), sy(1), plot, plot)
        for k in 0...4 {
            let v = Double(k) / 4
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\">%.2f</text>", left - 4, sy(v) + 3, v)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%.2f</text>", sx(v), sy(0) + 14, v)
        }
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">mean predicted → observed rate</text>", sx(0.5), size - 4)
        for (color, bins) in series {
            let pts = bins.filter { $0.count > 0 }
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" points=\"" + pts.map { String(format: "%.1f,%.1f", sx($0.meanPredicted), sy($0.observedRate)) }.joined(separator: " ") + "\"/>"
            for b in pts { svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" ", sx(b.meanPredicted), sy(b.observedRate)) + "fill=\"\(color)\"/>" }
        }
        return svg + "</svg>\n"
    }
}
