import Foundation
import Kafka
import Testing

extension WorkerIntegrationTests {
    /// One bad input of each kind, by hand: the bytes, the reason code the DLQ header must carry, and the field
    /// the reason names (nil: not checked).
    struct BadInput {
        let code: String
        let field: String?
        let bytes: [UInt8]
    }

    static func badInputs() -> [BadInput] {
        let context = #""context":{"gender":"F","age":34,"occupation":"writer","genres":["Drama"]}"#
        func event(_ id: String, type: String = #""click""#, user: String = #""17""#, ts: String = "874724710000",
                   context ctx: String = context, value: String = "null", extra: String = "") -> String {
            #"{"event_id":"bad-\#(id)","type":\#(type),"user_id":\#(user),"item_id":"50","ts":\#(ts),\#(ctx),"value":\#(value)\#(extra)}"#
        }
        var invalidUTF8 = Array(event("utf8", user: #""17\#u{1}""#).utf8)
        // Replace the \u{1} placeholder by a lone continuation-less lead byte followed by '(' (C3 28).
        let marker = invalidUTF8.firstIndex(of: 0x01)!
        invalidUTF8.replaceSubrange(marker...marker, with: [0xC3, 0x28])
        return [
            BadInput(code: "not_json", field: nil, bytes: Array("this is not json".utf8)),
            BadInput(code: "missing_field", field: "ts", bytes: Array(
                #"{"event_id":"bad-missing","type":"click","user_id":"17","item_id":"50",\#(context),"value":null}"#.utf8)),
            BadInput(code: "wrong_type", field: "ts", bytes: Array(event("wrongtype", ts: #""874724710000""#).utf8)),
            BadInput(code: "non_finite", field: "value", bytes: Array(event("nan", value: "NaN").utf8)),
            BadInput(code: "non_finite", field: "value", bytes: Array(event("inf", value: "-Infinity").utf8)),
            BadInput(code: "unknown_type", field: "type", bytes: Array(event("type", type: #""like""#).utf8)),
            BadInput(code: "invalid_utf8", field: nil, bytes: invalidUTF8),
            BadInput(code: "oversized", field: nil, bytes: Array(
                event("big", extra: #","padding":"\#(String(repeating: "x", count: 70_000))""#).utf8)),
            BadInput(code: "trailing_data", field: nil, bytes: Array((event("trailing") + " garbage").utf8)),
            BadInput(code: "duplicate_field", field: "user_id", bytes: Array(
                event("duplicate", user: #""17","user_id":"18""#).utf8)),
            BadInput(code: "bad_context", field: "context.gender", bytes: Array(
                event("context", context: #""context":{"gender":{"nested":true},"age":34}"#).utf8)),
            BadInput(code: "empty_field", field: "user_id", bytes: Array(event("empty", user: #""""#).utf8)),
            BadInput(code: "out_of_range", field: "ts", bytes: Array(event("negative", ts: "-5").utf8)),
        ]
    }

    /// Bad inputs go to the DLQ with the original bytes and the reason; the good stream around them is learned
    /// exactly as if they had never been there.
    @Test func everyKindOfBadInputIsDeadLetteredWithItsReasonAndTheGoodStreamIsFullyLearned() async throws {
        let scenario = try WorkerScenario("dlq")
        let good = try WorkerTestEnvironment.eventLines(3_000)
        let bad = Self.badInputs()
        #expect(bad.first { $0.code == "oversized" }.map { $0.bytes.count > 65_536 } == true)

        // Interleave: bad input k after good line (k+1)·n/(m+1).
        var values: [[UInt8]] = []
        var keys: [[UInt8]?] = []
        var badAt: [Int: BadInput] = [:]  // input index → bad input
        var nextBad = 0
        for (i, line) in good.enumerated() {
            while nextBad < bad.count && i == (nextBad + 1) * good.count / (bad.count + 1) {
                badAt[values.count] = bad[nextBad]
                values.append(bad[nextBad].bytes)
                keys.append(Array("bad-\(nextBad)".utf8))
                nextBad += 1
            }
            values.append(line)
            keys.append(nil)
        }
        try #require(nextBad == bad.count)

        try await scenario.createTopics(partitions: 1)
        let reports = try scenario.produce(values, keys: keys)
        let summary = try await scenario.runWorkerToCompletion(run: "worker", group: "g", checkpoints: "checkpoints")

        var expectedReasons: [String: Int] = [:]
        for b in bad { expectedReasons[b.code, default: 0] += 1 }
        #expect(summary.events == values.count)
        #expect(summary.rejected == bad.count)
        #expect(summary.rejectedByReason == expectedReasons)
        #expect(summary.events - summary.rejected == good.count)
        #expect(summary.examples == EventLine.clickCount(good))
        #expect(summary.published.deadLetters == bad.count)
        #expect(summary.positions == [.init(topic: scenario.inputTopic, partition: 0, offset: Int64(values.count))])

        // Never let bad input reach the weights: the model equals the pipeline's over the good lines alone.
        let reference = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: good)
        #expect(try scenario.snapshot("worker") == reference.snapshot, "bad input changed the model")

        let letters = try scenario.readAll(scenario.deadLetterTopic, expected: bad.count)
        #expect(letters.count == bad.count)
        var seen: Set<Int> = []
        for letter in letters {
            func header(_ name: String) -> String? {
                letter.headers.first { $0.name == name }.map { String(decoding: $0.value ?? [], as: UTF8.self) }
            }
            let key = String(decoding: letter.key ?? [], as: UTF8.self)
            let source = try #require(header("feedloop.source"), "no feedloop.source header (key \(key))")
            let offset = try #require(source.split(separator: "/").last.flatMap { Int64($0) }, "bad source header \(source)")
            let index = try #require(reports.firstIndex { $0.offset == offset }, "DLQ source offset \(offset) was never produced")
            #expect(source == "\(scenario.inputTopic)/0/\(offset)")
            guard let expected = badAt[index] else {
                Issue.record("a good event was dead-lettered: \(String(decoding: values[index], as: UTF8.self)) reason \(header("feedloop.reason") ?? "?")")
                continue
            }
            seen.insert(index)
            #expect(header("feedloop.reason") == expected.code, "input \(String(decoding: expected.bytes.prefix(120), as: UTF8.self))")
            if let field = expected.field { #expect(header("feedloop.field") == field, "\(expected.code)") }
            #expect(header("feedloop.detail").map { !$0.isEmpty } == true, "\(expected.code): no detail")
            #expect(letter.value == expected.bytes, "\(expected.code): the DLQ value is not the original bytes")
            #expect(letter.key == keys[index], "\(expected.code): the DLQ key is not the original key")
        }
        #expect(seen == Set(badAt.keys), "bad inputs missing from the DLQ: \(Set(badAt.keys).subtracting(seen).map { badAt[$0]!.code })")
    }
}
