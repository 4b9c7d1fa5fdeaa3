import Foundation
import Replay
import Testing

/// The bounds of `feedloop replay --topic … --from … --to …`.
@Suite struct KafkaRangeBoundTests {
    @Test(arguments: [
        ("beginning", KafkaRange.Bound.beginning), ("earliest", .beginning),
        ("end", .end), ("latest", .end),
        ("0", .offset(0)), ("1234", .offset(1234)),
        ("ts:0", .timestamp(0)), ("ts:1700000000000", .timestamp(1_700_000_000_000)),
        ("2024-05-01T12:00:00Z", .timestamp(1_714_564_800_000)),
        ("2024-05-01T14:00:00+02:00", .timestamp(1_714_564_800_000)),
    ])
    func parses(_ text: String, _ expected: KafkaRange.Bound) throws {
        #expect(try KafkaRange.Bound(parsing: text) == expected)
    }

    @Test(arguments: ["", "-1", "ts:", "ts:-5", "ts:abc", "yesterday", "2024-05-01", "12.5", "beginning "])
    func refusesWithTheAcceptedForms(_ text: String) {
        do {
            _ = try KafkaRange.Bound(parsing: text)
            Issue.record("accepted \(text.debugDescription)")
        } catch {
            #expect(error.description.contains("bad range bound '\(text)'"))
            #expect(error.description.contains("beginning, end, an offset, ts:MILLISECONDS or an ISO-8601 time"))
        }
    }

    @Test func aRangeKeepsItsBoundsAndIdleTime() {
        let range = KafkaRange(topic: "events", from: .offset(10), to: .end, idleSeconds: 1.5)
        #expect(range.topic == "events")
        #expect(range.from == .offset(10))
        #expect(range.to == .end)
        #expect(range.idleSeconds == 1.5)
        #expect(KafkaRange(topic: "t", from: .beginning, to: .end).idleSeconds == 3)
    }
}
