import Foundation
import Testing
@testable import Worker
import Events
import Pipelines

/// Pieces of the worker's sink that need no broker.
@Suite struct WorkerSinkUnitTests {
    @Test func refreshLimiterAllowsOneRefreshPerIntervalPerUser() {
        var limiter = RefreshLimiter(intervalMs: 1_000)
        #expect(limiter.allows(42, at: 0))
        limiter.record(42, at: 0)
        #expect(!limiter.allows(42, at: 999))
        #expect(limiter.allows(42, at: 1_000))
        #expect(limiter.allows(43, at: 10), "another user is independent")
        let off = RefreshLimiter(intervalMs: 0)
        #expect(off.allows(42, at: 0))
    }

    @Test func refreshLimiterIsExactForManyUsersAndNeverLate() {
        // 40,000 users (fewer than the 65,536 sets) refreshed at t = user: a second refresh is refused for every
        // user within the interval, and allowed after it.
        var limiter = RefreshLimiter(intervalMs: 100_000)
        let users = (1...40_000).map { UInt64($0) &* 0x2545_F491_4F6C_DD1D }
        for (t, u) in users.enumerated() { limiter.record(u, at: Int64(t)) }
        var refused = 0
        for (t, u) in users.enumerated() {
            if !limiter.allows(u, at: Int64(t) + 99_999) { refused += 1 }
            #expect(limiter.allows(u, at: Int64(t) + 100_000))
        }
        // 2-way sets: a few users may share a set with two others and lose their entry (allowed early, not late).
        #expect(refused >= 39_000, "refused \(refused) of 40,000")
        // Bounded: a million more users change nothing in the memory it holds, and never block anyone late.
        for u in 1...1_000_000 { limiter.record(UInt64(u) &* 0x9E37_79B9, at: 200_000) }
        #expect(users.allSatisfy { limiter.allows($0, at: 200_000) })
    }

    @Test func numbersAreTheShortestFloatDecimalsAndNonFiniteIsNull() {
        var e = OutputEncoder()
        for (v, text) in [(0.0, "0.0"), (0.1, "0.1"), (-1.5, "-1.5"), (0.81095743, "0.81095743"), (1e-7, "1e-07"),
                          (Double.nan, "null"), (Double.infinity, "null"), (3e39, "null")] {
            e.begin()
            e.number(v)
            #expect(String(decoding: e.bytes, as: UTF8.self) == text, "\(v)")
        }
        // Every Float round-trips through its text, and the text is valid JSON.
        var state: UInt32 = 12345
        for _ in 0..<10_000 {
            state = state &* 1_664_525 &+ 1_013_904_223
            let f = Float(bitPattern: state)
            guard f.isFinite else { continue }
            e.begin()
            e.number(Double(f))
            let text = String(decoding: e.bytes, as: UTF8.self)
            #expect(Float(text) == f, "\(text)")
            #expect((try? JSONSerialization.jsonObject(with: Data(e.bytes), options: [.fragmentsAllowed])) != nil, "\(text)")
        }
    }

    @Test func delayHistogramQuantilesAreWithinOneBucket() {
        var h = DelayHistogram()
        #expect(h.quantileMilliseconds(0.99) == 0)
        // 1..10,000 µs uniformly: p50 ≈ 5 ms, p99 ≈ 9.9 ms, max 10 ms.
        for micros in 1...10_000 { h.record(nanoseconds: UInt64(micros) * 1_000) }
        #expect(h.count == 10_000)
        let width = exp2(1 / DelayHistogram.perOctave)  // one bucket, ~4.4%
        #expect(h.quantileMilliseconds(0.5) >= 5.0 && h.quantileMilliseconds(0.5) <= 5.0 * width)
        #expect(h.quantileMilliseconds(0.99) >= 9.9 && h.quantileMilliseconds(0.99) <= 10.0)
        #expect(h.quantileMilliseconds(1.0) == 10.0)
        h.record(nanoseconds: 0)
        h.record(nanoseconds: UInt64.max / 2)  // beyond the last bucket: counted there, max kept exactly
        #expect(h.count == 10_002)
        #expect(h.quantileMilliseconds(1.0) == Double(UInt64.max / 2) / 1e6)
    }
}

/// Dead letters: the original when it fits the producer's `message.max.bytes`, a bounded record that identifies it
/// when it does not (so no input can make the worker fail to publish its dead letter).
@Suite struct DeadLetterBoundTests {
    struct Recorder: OutputPublisher {
        var messages: [(topic: String, key: [UInt8], value: [UInt8], headers: [(String, [UInt8])])] = []
        var tokens: [UInt64] = []
        mutating func publish(topic: String, key: UnsafeRawBufferPointer, value: [UInt8], headers: [(String, [UInt8])], token: UInt64) {
            messages.append((topic, Array(key), value, headers))
            tokens.append(token)
        }
    }

    static func sink(maxMessageBytes: Int) throws -> WorkerSink<Recorder> {
        let spec = try PipelineSpec.load(path: WorkerTestEnvironment.repositoryRoot.appendingPathComponent("pipelines/movielens-ftrl.yaml").path)
        var sink = WorkerSink(publisher: Recorder(), spec: spec, refreshTypes: [], refreshIntervalMs: 0, maxMessageBytes: maxMessageBytes)
        sink.source = SourceMessage(topic: "events", partition: 3, offset: 77, timestampMs: 1_700_000_000_000)
        return sink
    }

    static func header(_ m: (topic: String, key: [UInt8], value: [UInt8], headers: [(String, [UInt8])]), _ name: String) -> String? {
        m.headers.first { $0.0 == name }.map { String(decoding: $0.1, as: UTF8.self) }
    }

    @Test func anInputThatFitsIsDeadLetteredByteExact() throws {
        var sink = try Self.sink(maxMessageBytes: 1_000_000)
        let input = (0..<900_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let key: [UInt8] = Array("user-1".utf8)
        key.withUnsafeBytes { k in
            sink.key = k
            input.withUnsafeBytes { sink.rejected(RejectReason(.oversized, detail: "too big"), input: $0) }
        }
        let m = try #require(sink.publisher.messages.first)
        #expect(m.value == input && m.key == key)
        #expect(Self.header(m, "feedloop.truncated") == nil && sink.truncatedDeadLetters == 0)
    }

    @Test(arguments: [999_900, 3_000_000, 10_000_000])
    func anInputTooLargeToRepublishGetsABoundedRecordThatIdentifiesIt(size: Int) throws {
        var sink = try Self.sink(maxMessageBytes: 1_000_000)
        var input = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        input[0] = 0xC3  // not UTF-8: the head must survive as bytes
        let key = [UInt8](repeating: UInt8(ascii: "k"), count: 5_000)
        key.withUnsafeBytes { k in
            sink.key = k
            input.withUnsafeBytes { sink.rejected(RejectReason(.oversized, detail: "input is \(size) bytes"), input: $0) }
        }
        #expect(sink.published.deadLetters == 1 && sink.truncatedDeadLetters == 1)
        let m = try #require(sink.publisher.messages.first)
        #expect(m.value.count + m.key.count + m.headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.count } < 16_384)
        #expect(Self.header(m, "feedloop.truncated") == "true")
        #expect(Self.header(m, "feedloop.reason") == "oversized")
        #expect(Self.header(m, "feedloop.source") == "events/3/77")
        #expect(Self.header(m, "feedloop.original_size") == String(size))
        let digest = input.withUnsafeBytes { SHA256.hex($0) }
        #expect(Self.header(m, "feedloop.sha256") == digest)
        #expect(m.key == Array(key.prefix(1024)))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(m.value)) as? [String: Any])
        #expect(object["kind"] as? String == "truncated_dead_letter")
        #expect(object["reason"] as? String == "oversized")
        #expect(object["original_bytes"] as? Int == size)
        #expect(object["original_key_bytes"] as? Int == 5_000)
        #expect(object["sha256"] as? String == digest)
        let source = try #require(object["source"] as? [String: Any])
        #expect(source["topic"] as? String == "events" && source["partition"] as? Int == 3 && source["offset"] as? Int == 77)
        let head = try #require((object["head_base64"] as? String).flatMap { Data(base64Encoded: $0) })
        #expect(Array(head) == Array(input.prefix(4096)))
    }

    /// A topic may accept less than the producer (its `max.message.bytes`): the broker then refuses a large dead
    /// letter at delivery, and its bounded record goes instead — the input cannot stop the worker that way either.
    @Test func aLargeDeadLetterTheBrokerRefusesIsReplacedByItsBoundedRecord() throws {
        var sink = try Self.sink(maxMessageBytes: 1_000_000)
        let large = [UInt8](repeating: 0x41, count: 500_000)
        let small = [UInt8](repeating: 0x42, count: 100)
        for input in [large, large, small] {
            input.withUnsafeBytes { sink.rejected(RejectReason(.oversized, detail: "big"), input: $0) }
        }
        let tokens = sink.publisher.tokens
        #expect(tokens.count == 3 && sink.publisher.messages.map(\.value.count) == [500_000, 500_000, 100])
        #expect(DeadLetterToken.isDeadLetter(tokens[0]) && DeadLetterToken.isDeadLetter(tokens[1]) && tokens[0] != tokens[1])
        #expect(tokens[2] == 0, "small dead letters keep nothing")
        #expect(!DeadLetterToken.isDeadLetter(ScoreToken.make(eventTimestampMs: 1_700_000_000_000)))
        #expect(sink.pendingLargeDeadLetters.count == 2)

        sink.deadLetterDelivered(token: tokens[0])
        let replaced = sink.deadLetterRefused(token: tokens[1])
        #expect(replaced && sink.pendingLargeDeadLetters.isEmpty)
        let again = sink.deadLetterRefused(token: tokens[1])
        #expect(!again, "published once")
        let replacement = try #require(sink.publisher.messages.last)
        #expect(sink.publisher.messages.count == 4 && replacement.value.count < 8_192)
        #expect(Self.header(replacement, "feedloop.truncated") == "true")
        #expect(Self.header(replacement, "feedloop.sha256") == large.withUnsafeBytes { SHA256.hex($0) })
        #expect(sink.truncatedDeadLetters == 1 && sink.published.deadLetters == 3)
    }

    @Test func base64MatchesFoundationForEveryRemainder() {
        var e = OutputEncoder()
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 13) }
            e.begin()
            bytes.withUnsafeBytes { e.base64($0) }
            #expect(String(decoding: e.bytes, as: UTF8.self) == "\"" + Data(bytes).base64EncodedString() + "\"", "\(n) bytes")
        }
    }
}
