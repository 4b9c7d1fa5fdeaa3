import Foundation
import Replay
import Testing

/// The three renderings of a replay report: the terminal table, the JSON report and the HTML page.
@Suite struct ReportRenderingTests {
    /// A report of a small replay: 4 clicks (2 bought), a blank line and a line that is not JSON.
    static func report(name: String = "fixture") throws -> ReplayReport {
        var lines: [String] = []
        for (i, user) in ["1", "2", "3", "4"].enumerated() {
            lines.append(#"{"event_id":"c\#(i)","type":"click","user_id":"\#(user)","item_id":"9","ts":\#(1000 + i)}"#)
            if i % 2 == 0 {
                lines.append(#"{"event_id":"p\#(i)","type":"purchase","user_id":"\#(user)","item_id":"9","ts":\#(1000 + i)}"#)
            }
        }
        lines += ["", "not json"]
        let input = DeadLetterFileTests.temporaryPath("render.jsonl")
        defer { try? FileManager.default.removeItem(atPath: input) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: false, encoding: .utf8)
        var replay = Replay(pipelines: [(try ReplayFixtures.spec(), "\(name).yaml")])
        var deadLetters: DeadLetterFile? = nil
        try replay.run(path: input, deadLetters: &deadLetters)
        var report = replay.reports(input: input)[0]
        report.pipeline = name
        return report
    }

    @Test func theTableHasOneAlignedRowPerPipelineAndNamesTheRejects() throws {
        let report = try Self.report()
        let table = ReportRendering.table([report, report])
        let rows = table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(rows[0].hasPrefix("pipeline"))
        #expect(rows[0].contains("logloss") && rows[0].contains("AUC") && rows[0].contains("events/s"))
        #expect(rows[1].allSatisfy { $0 == "-" || $0 == " " })
        #expect(rows[2].hasPrefix("fixture"))
        #expect(rows[2].contains(" 8 "))  // events: 6 events, 1 blank line, 1 line that is not JSON
        #expect(rows[2].contains(String(format: "%.4f", report.logloss)))
        // Every row of the table is as wide as the header (right-aligned numbers).
        #expect(rows[2].count == rows[0].count && rows[3].count == rows[0].count)
        #expect(table.contains("fixture: rejected 2 [empty=1 not_json=1]"))
        // The run as a whole: its elapsed time on its threads (one: the fixture replays on the calling thread).
        #expect(report.threads == 1 && (report.elapsedSeconds ?? 0) > 0)
        #expect(rows.contains { $0.hasPrefix("elapsed ") && $0.contains(" s on 1 thread: ") && $0.hasSuffix(" events/s") })
    }

    @Test func theJSONIsOneReportOrAComparisonWithSnakeCaseKeys() throws {
        let report = try Self.report()
        let one = try JSONSerialization.jsonObject(with: ReportRendering.json([report])) as! [String: Any]
        #expect(one["pipeline"] as? String == "fixture")
        #expect(one["events"] as? Int == 8)
        #expect(one["examples"] as? Int == 4)
        for key in ["logloss", "auc", "auc_error_bound", "accuracy", "calibration", "events_per_second", "elapsed_seconds", "threads", "peak_rss_bytes", "windows", "counters", "rejected_by_reason"] {
            #expect(one[key] != nil, "missing \(key)")
        }
        #expect((one["rejected_by_reason"] as? [String: Int]) == ["empty": 1, "not_json": 1])
        let two = try JSONSerialization.jsonObject(with: ReportRendering.json([report, report])) as! [String: Any]
        #expect((two["pipelines"] as? [[String: Any]])?.count == 2)
        // Non-finite metrics (a calibration bin with no example) are written as strings; the report reads back.
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        #expect(try decoder.decode(ReplayReport.self, from: ReportRendering.json([report])).examples == report.examples)
    }

    @Test func theHTMLPageIsSelfContainedAndEscapesNames() throws {
        let report = try Self.report(name: "a<b>&\"c\"")
        let page = ReportRendering.html([report])
        #expect(page.hasPrefix("<!DOCTYPE html>") || page.hasPrefix("<!doctype html>") || page.contains("<html"))
        #expect(page.contains("<svg"))
        #expect(!page.contains("a<b>"))
        #expect(page.contains("a&lt;b&gt;&amp;"))
        #expect(!page.contains("<script src") && !page.contains("<link"))
        #expect(page.contains("<p>The run as a whole: elapsed ") && page.contains(" s on 1 thread: "))
    }
}
