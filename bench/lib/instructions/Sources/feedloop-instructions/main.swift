// feedloop-instructions PIPELINE EVENTS.jsonl [REFRESH_EVERY]
//
// Runs every line of EVENTS through the pipeline step (`Pipeline.process`, the worker's and the replay's step; no
// ranking evaluation, as in timed replays) and, with REFRESH_EVERY > 0, a score refresh (`Pipeline.topItems`, k = 10)
// after every REFRESH_EVERY-th event. Prints one JSON line of counts; the instructions are counted from outside
// (callgrind), so the file is read whole before the first event and the report is printed after the last.
// With FEEDLOOP_COUNT_ALLOCATIONS=1 (scripts/check-allocations) it also counts heap allocations (AllocationCounter):
// those of the step over the second half of the events (`step_allocations`; the first half warms the catalog, the
// label join and the metrics up) and those of the refreshes in that half (`refresh_allocations` in
// `warm_refreshes`). Off by default, so the
// instruction counts do not include the counting.
// With FEEDLOOP_SYNC_EVERY=E, the learning thread's share of a group member's exchange (`sync:`, see GroupSync):
// increments tracked, and after every E labelled examples taken and encoded as the record the worker publishes,
// whose header is then read back as the worker reads its own records (the broker's and the network's share is not
// counted here).
// With FEEDLOOP_SYNC_DIGEST=1 as well, it also prints a digest (FNV-1a, 64 bits) of every record's bytes in order
// (`sync_digest`) and of the model's snapshot at the end (`model_digest`): a change to how increments are tracked,
// taken or encoded must leave both as they were. Off by default (the digests are not part of the counts).
// With FEEDLOOP_DECODE_BATCH=N, the step is the replay's: the lines are decoded N at a time into an `EventBatch`
// (each line once, for several pipelines, by the replay's `EventBatch.append(lines:in:)`) and each entry is applied
// (`Pipeline.process(_:of:ahead:entry:input:partition:sink:)`); the warm step's allocations are those of decoding
// the batches and applying them. No refreshes in that mode. With FEEDLOOP_FEATURIZE_AHEAD=1 as well, each batch is
// also featurized ahead (``FeaturesAhead``) and applied from it.
import AllocationCounter
import Events
import Foundation
import Learning
import Pipelines

let args = CommandLine.arguments
guard args.count >= 3, let data = FileManager.default.contents(atPath: args[2]) else {
    FileHandle.standardError.write(Data("usage: feedloop-instructions PIPELINE EVENTS.jsonl [REFRESH_EVERY]\n".utf8))
    exit(2)
}
var spec = try PipelineSpec.load(path: args[1])
spec.evaluation.ranking = nil
let refreshEvery = args.count > 3 ? Int(args[3]) ?? 0 : 0
var pipeline = Pipeline(spec: spec)
let syncEvery = UInt64(ProcessInfo.processInfo.environment["FEEDLOOP_SYNC_EVERY"] ?? "") ?? 0
if syncEvery > 0 { pipeline.trackModelIncrements() }
var syncRecords = 0, syncBytes = 0, syncAtLabelled: UInt64 = 0
let syncDigesting = ProcessInfo.processInfo.environment["FEEDLOOP_SYNC_DIGEST"] == "1"
var syncDigest: UInt64 = 0xcbf2_9ce4_8422_2325
func digest(_ bytes: [UInt8], into h: inout UInt64) {
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
}
/// What the worker does when its count trigger fires (GroupSync.publish, then reading its record back).
@MainActor func exchange() {
    syncAtLabelled = pipeline.counters.labelled
    let bytes = IncrementsRecord.encode(
        member: "member-1", sequence: UInt64(syncRecords + 1), fingerprint: pipeline.specFingerprint,
        coverage: [InputPosition(topic: "events", partition: 0, offset: Int64(events))],
        positives: pipeline.takeSharedPositives(), takingIncrementsOf: &pipeline)
    if IncrementsRecord.header(bytes)?.sequence == UInt64(syncRecords + 1) { syncRecords += 1 }
    syncBytes += bytes.count
    if syncDigesting { digest(bytes, into: &syncDigest) }
}
var sink = NullSink()
var top: [(item: Int, probability: Double)] = []
var events = 0, refreshes = 0, candidates = 0
let counting = ProcessInfo.processInfo.environment["FEEDLOOP_COUNT_ALLOCATIONS"] == "1"
// The counter itself must work, or "no allocations" would prove nothing.
let probe = feedloop_thread_allocations()
let probeBuffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
probeBuffer.deallocate()
let counterWorks = feedloop_allocation_counting_available() != 0 && feedloop_thread_allocations() > probe
let warm = counting ? data.withUnsafeBytes { raw in raw.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } } / 2 : Int.max
var stepAllocations: UInt64 = 0, refreshAllocations: UInt64 = 0, warmRefreshes = 0
let decodeBatch = Int(ProcessInfo.processInfo.environment["FEEDLOOP_DECODE_BATCH"] ?? "") ?? 0
if decodeBatch > 0 {
    data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
        let base = raw.baseAddress!
        var lines: [Range<Int>] = []
        var start = 0
        while start < raw.count {
            var end = raw.count
            if let newline = memchr(base + start, 0x0A, raw.count - start) { end = UnsafeRawPointer(newline) - base }
            if end > start { lines.append(start..<end) }
            start = end + 1
        }
        let batch = pipeline.makeEventBatch()
        // FEEDLOOP_FEATURIZE_AHEAD=1: featurized after decoding as a threaded replay of one pipeline does on its
        // reading thread (FeaturesAhead), and applied from those features; here on one thread, to count both.
        var featurizer = ProcessInfo.processInfo.environment["FEEDLOOP_FEATURIZE_AHEAD"] == "1" ? pipeline.makeFeaturizerAhead() : nil
        let ahead = featurizer?.makeBatch()
        for first in stride(from: 0, to: lines.count, by: decodeBatch) {
            let chunk = lines[first..<min(first + decodeBatch, lines.count)]
            let before = feedloop_thread_allocations()
            batch.removeAll()
            chunk.withUnsafeBufferPointer { batch.append(lines: $0, in: raw) }  // as the replay decodes a batch
            let entries = batch.entries
            if let ahead { featurizer!.featurize(batch, into: ahead) }
            let features = ahead?.storage
            for (i, line) in chunk.enumerated() {
                pipeline.process(
                    entries[i], of: batch, ahead: features, entry: i, input: UnsafeRawBufferPointer(rebasing: raw[line]),
                    sink: &sink)
            }
            if first >= warm { stepAllocations &+= feedloop_thread_allocations() &- before }
            events += chunk.count
        }
    }
}
if decodeBatch <= 0 { data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
    let base = raw.baseAddress!
    var start = 0
    while start < raw.count {
        var end = raw.count
        if let newline = memchr(base + start, 0x0A, raw.count - start) { end = UnsafeRawPointer(newline) - base }
        if end > start {
            if events >= warm {
                let before = feedloop_thread_allocations()
                pipeline.process(UnsafeRawBufferPointer(rebasing: raw[start..<end]), sink: &sink)
                stepAllocations &+= feedloop_thread_allocations() &- before
            } else {
                pipeline.process(UnsafeRawBufferPointer(rebasing: raw[start..<end]), sink: &sink)
            }
            events += 1
            if syncEvery > 0, pipeline.counters.labelled &- syncAtLabelled >= syncEvery { exchange() }
            if refreshEvery > 0, events % refreshEvery == 0 {
                let before = events > warm ? feedloop_thread_allocations() : 0
                pipeline.topItems(k: 10, into: &top)
                if events > warm {
                    refreshAllocations &+= feedloop_thread_allocations() &- before
                    warmRefreshes += 1
                }
                refreshes += 1
                candidates += pipeline.catalog.withCandidates { count, _ in count }
            }
        }
        start = end + 1
    }
} }
pipeline.finish(sink: &sink)
var modelDigest: UInt64 = 0xcbf2_9ce4_8422_2325
if syncDigesting { digest(pipeline.model.snapshotBytes(), into: &modelDigest) }
print(
    #"{"events":\#(events),"examples":\#(pipeline.counters.examples),"refreshes":\#(refreshes),"candidates":\#(candidates),"#
        + #""allocation_counter_works":\#(counterWorks),"warm_events":\#(counting ? max(events - (decodeBatch > 0 ? (warm + decodeBatch - 1) / decodeBatch * decodeBatch : warm), 0) : 0),"#
        + #""step_allocations":\#(stepAllocations),"warm_refreshes":\#(warmRefreshes),"#
        + #""refresh_allocations":\#(refreshAllocations),"sync_records":\#(syncRecords),"sync_bytes":\#(syncBytes)"#
        + (syncDigesting ? #","sync_digest":"\#(String(syncDigest, radix: 16))","model_digest":"\#(String(modelDigest, radix: 16))""# : "") + "}")
