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
