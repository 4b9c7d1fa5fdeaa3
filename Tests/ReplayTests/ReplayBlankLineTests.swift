import Foundation
import Replay
import Testing

/// Blank lines of a replayed file are inputs like any other: rejected with reason `empty` (the code the worker gives
/// an empty message), counted in the report and written to the dead letters. The newline that ends the file ends its
/// last line and starts none.
@Suite struct ReplayBlankLineTests {
    static let event = #"{"event_id":"c-1-2","type":"click","user_id":"1","item_id":"2","ts":874724710000}"#

    /// Replays `text`; returns the report and the dead letters.
    static func replay(_ text: String) throws -> (report: ReplayReport, deadLetters: [DeadLetterFile.Record]) {
        let input = DeadLetterFileTests.temporaryPath("blank.jsonl"), output = DeadLetterFileTests.temporaryPath("blank-dlq.jsonl")
        defer { for path in [input, output] { try? FileManager.default.removeItem(atPath: path) } }
        try text.write(toFile: input, atomically: false, encoding: .utf8)
        var replay = Replay(pipelines: [(try ReplayFixtures.spec(), "test")])
        var deadLetters: DeadLetterFile? = try DeadLetterFile(path: output)
        try replay.run(path: input, deadLetters: &deadLetters)
        return (replay.reports(input: input)[0], try DeadLetterFile.read(path: output))
    }

    @Test(arguments: [
        // (file text, blank lines in it)
        ("E\nE\n", 0),
        ("E\nE", 0),
        ("E\n\nE\n", 1),
        ("\nE\n", 1),
        ("E\n\n", 1),
        ("E\n\n\n", 2),
        ("E\r\n\r\nE\r\n", 1),
        ("E\n   \n\t\nE\n", 2),
        ("\n", 1),
        ("", 0),
    ])
    func blankLinesAreRejectedAsEmptyAndCountedButTheFinalNewlineIsNot(_ template: String, _ blanks: Int) throws {
        let text = template.replacingOccurrences(of: "E", with: Self.event)
        let events = template.filter { $0 == "E" }.count
        let (report, deadLetters) = try Self.replay(text)
        #expect(report.events == UInt64(events + blanks), "\(template.debugDescription)")
        #expect(report.rejected == UInt64(blanks), "\(template.debugDescription)")
        #expect(report.rejectedByReason == (blanks == 0 ? [:] : ["empty": UInt64(blanks)]), "\(template.debugDescription)")
        #expect(deadLetters.count == blanks && deadLetters.allSatisfy { $0.reason == "empty" })
        // A blank line's dead letter is the line itself: nothing, or its blanks.
        #expect(deadLetters.allSatisfy { $0.input.allSatisfy { $0 == 0x20 || $0 == 0x09 } })
    }

    @Test func theReportTableListsTheEmptyRejects() throws {
        let (report, _) = try Self.replay("\(Self.event)\n\n\(Self.event)\n")
        let table = ReportRendering.table([report])
        #expect(table.contains("empty=1"), "\(table)")
    }
}
