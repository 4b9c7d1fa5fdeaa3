import Events
import Learning
import Persistence
import Testing
@testable import Pipelines

/// The record a group member publishes is written straight from its model (``IncrementsRecord/encode(member:sequence:fingerprint:coverage:positives:takingIncrementsOf:)``):
/// the same bytes as the record built from ``Pipeline/takeModelIncrements()`` and encoded, interval after interval,
/// with others' increments received for touched slots in between, and when nothing was touched.
@Suite struct IncrementsRecordEncodingTests {
    static func events(_ seed: UInt64, count: Int) -> [String] {
        var rng = SplitMix64(seed: seed)
        var lines: [String] = []
        for i in 0..<count {
            let user = String(rng.next() % 40), item = String(rng.next() % 60), ts = Int64(1_000 + 10 * i)
            lines.append(PipelineStepTests.event("click", user: user, item: item, ts: ts))
            if rng.next() % 3 == 0 { lines.append(PipelineStepTests.event("purchase", user: user, item: item, ts: ts + 5)) }
        }
        return lines
    }

    @Test(arguments: ["type: logistic", "type: fm\n  factors: 4"])
    func theRecordWrittenFromTheModelIsTheEncodedRecord(model: String) throws {
        let spec = try PipelineStepTests.spec(window: "1s", capacity: 100_000, model: model)
        var built = Pipeline(spec: spec), direct = Pipeline(spec: spec), other = Pipeline(spec: spec)
        for p in [0, 1, 2] {
            switch p {
            case 0: built.trackModelIncrements()
            case 1: direct.trackModelIncrements()
            default: other.trackModelIncrements()
            }
        }
        var sink = PipelineStepTests.RecordingSink()
        let coverage = [InputPosition(topic: "events", partition: 1, offset: 77)]
        for interval in 0..<4 {
            let lines = Self.events(UInt64(interval), count: interval == 3 ? 0 : 300)
            PipelineStepTests.feed(&built, Array(lines.prefix(150)), &sink)
            PipelineStepTests.feed(&direct, Array(lines.prefix(150)), &sink)
            // Another member's increments, to slots both replicas touched already.
            PipelineStepTests.feed(&other, Self.events(UInt64(100 + interval), count: interval == 3 ? 0 : 200), &sink)
            let foreign = other.takeModelIncrements()
            built.applyModelIncrements(foreign)
            direct.applyModelIncrements(foreign)
            PipelineStepTests.feed(&built, Array(lines.dropFirst(150)), &sink)
            PipelineStepTests.feed(&direct, Array(lines.dropFirst(150)), &sink)
            let record = IncrementsRecord(
                member: "m", sequence: UInt64(interval + 1), fingerprint: 7, coverage: coverage,
                increments: built.takeModelIncrements(), positives: built.takeSharedPositives())
            let bytes = IncrementsRecord.encode(
                member: "m", sequence: UInt64(interval + 1), fingerprint: 7, coverage: coverage,
                positives: direct.takeSharedPositives(), takingIncrementsOf: &direct)
            #expect(bytes == record.encode(), "interval \(interval)")
            #expect(interval == 3 || !record.increments.slots.isEmpty)
            let layout = direct.model.incrementLayout
            #expect(try IncrementsRecord.decode(bytes, stride: layout.stride, slots: layout.slots) == record)
        }
    }
}
