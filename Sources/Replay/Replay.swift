import Events
import Foundation
import Learning
import Pipelines

/// Offline evaluation: runs event logs through the same ``Pipeline`` step as the worker (predict-then-learn in log
/// order) and reports progressive-validation metrics. Several pipelines can share one pass (`--compare`).
///
/// Each line is decoded once, not once per pipeline: into an ``EventBatch`` that every pipeline decoding the same
/// way reads (``Pipeline/process(_:of:ahead:entry:input:partition:sink:)``). What a decoder accepts and the slots of its events
/// depend on the pipeline's context keys (a duplicate of an extracted key is rejected, one of another key is not),
/// so the pipelines are grouped by decoding (``decodings``): one batch per group, one group when they extract the
/// same context keys in the same order (the usual case, and the shipped pipelines'). A file replay on several
/// threads decodes on a reading thread while the pipelines learn (``run(path:progress:deadLetters:)``).
public struct Replay {
    /// Pipelines evaluated together, with the file each came from.
    public var pipelines: [Pipeline]
    public var files: [String]
    /// Seconds spent in each pipeline's step (its share of decoding excluded: that is reading), and in reading and
    /// decoding the input, shared by every pipeline.
    var stepSeconds: [Double]
    var readSeconds = 0.0
    /// Wall-clock seconds of the whole run, from the first read to the last window closed: what the pipelines took
    /// together on ``threads`` threads (the figure to compare with another learner's elapsed time).
    public internal(set) var elapsedSeconds = 0.0
    /// Events seen (per pipeline they are the same).
    public internal(set) var events: UInt64 = 0
    /// Threads the pipelines learn on (`--threads`). With one, a file replay reads, decodes and learns on the
    /// calling thread; with more, a reading thread reads and decodes the batches ahead (up to
    /// ``Replay/queuedBatches``) and the pipelines learn on up to `threads` threads, each pipeline on one thread at a
    /// time. Every pipeline sees the same batches in the same order whatever the count, so results are bit-identical.
    public var threads: Int = 1
    /// The decoding group of each pipeline (an index into the batches of ``decodings``).
    let decodingOf: [Int]
    /// One batch per distinct decoding among the pipelines, reused for every ``feed(_:bytes:deadLetters:)``.
    let decodings: [EventBatch]
    /// The input a file replay reads at once: a batch of lines (the line reader's chunk; a longer line makes a
    /// larger batch). Tests make it small, to go round the queue of a threaded replay many times. 256 KiB: the
    /// queue of a threaded replay then holds about 2 MiB of input, so a batch is still in the caches when its
    /// learning thread reads what the reading thread wrote (1 MiB batches measured 8 % slower, wall time, in
    /// paired runs of the FTRL replay of MovieLens x10 on 2 threads, 2026-12-06).
    var batchBytes = 1 << 18

    public init(pipelines: [(spec: PipelineSpec, file: String)]) {
        self.pipelines = pipelines.map { Pipeline(spec: $0.spec) }
        self.files = pipelines.map(\.file)
        self.stepSeconds = Array(repeating: 0, count: pipelines.count)
        (decodingOf, decodings) = Self.groupByDecoding(self.pipelines)
    }

    /// The batches the pipelines need, one per distinct decoding, and each pipeline's.
    static func groupByDecoding(_ pipelines: [Pipeline]) -> (of: [Int], batches: [EventBatch]) {
        var batches: [EventBatch] = []
        var of: [Int] = []
        for pipeline in pipelines {
            if let g = batches.firstIndex(where: { pipeline.decodes(like: $0) }) {
                of.append(g)
            } else {
                of.append(batches.count)
                batches.append(pipeline.makeEventBatch())
            }
        }
        return (of, batches)
    }

    /// The number of distinct decodings among the pipelines (how many times each line is decoded).
    public var decodingCount: Int { decodings.count }

    /// Feeds one batch of messages to every pipeline: each line decoded once per decoding group (timed as reading),
    /// then each pipeline runs the whole batch (timed separately), on `threads` threads when there are several
    /// pipelines.
    public mutating func feed(_ lines: UnsafeBufferPointer<Range<Int>>, bytes: UnsafeRawBufferPointer, deadLetters: inout DeadLetterFile?) {
        let decodeStart = monotonicSeconds()
        for batch in decodings { Self.decode(lines, bytes, into: batch) }
        readSeconds += monotonicSeconds() - decodeStart
        let n = min(max(threads, 1), pipelines.count)
        if n <= 1 {
            withUnsafeMutablePointer(to: &deadLetters) { letters in
                for p in pipelines.indices {
                    stepSeconds[p] += Self.step(
                        &pipelines[p], decodings[decodingOf[p]], lines, bytes, deadLetters: p == 0 ? letters : nil)
                }
            }
        } else {
            var times = [Double](repeating: 0, count: pipelines.count)
            pipelines.withUnsafeMutableBufferPointer { all in
                times.withUnsafeMutableBufferPointer { times in
                    withUnsafeMutablePointer(to: &deadLetters) { letters in
                        // Each pipeline (and its time slot) is touched by one thread only; the dead letters by
                        // pipeline 0's.
                        let batch = ParallelBatch(
                            pipelines: all, times: times, decoded: decodings, decodingOf: decodingOf, lines: lines,
                            bytes: bytes, deadLetters: letters)
                        if n >= min(all.count, Self.availableCores) {
                            // As many threads as the machine runs at once: the pipelines go to whichever is free
                            // (pipelines of different costs balance themselves).
                            DispatchQueue.concurrentPerform(iterations: all.count) { p in batch.run(p) }
                        } else {
                            DispatchQueue.concurrentPerform(iterations: n) { i in
                                for p in stride(from: i, to: batch.pipelines.count, by: n) { batch.run(p) }
                            }
                        }
                    }
                }
            }
            for p in pipelines.indices { stepSeconds[p] += times[p] }
        }
        events &+= UInt64(lines.count)
    }

    /// Decodes every line of a batch into `batch` (emptied first).
    static func decode(_ lines: UnsafeBufferPointer<Range<Int>>, _ bytes: UnsafeRawBufferPointer, into batch: EventBatch) {
        batch.removeAll()
        batch.append(lines: lines, in: bytes)
    }

    /// One pipeline over one batch of decoded lines; returns the seconds it took. Pipeline 0 writes the dead
    /// letters, when asked.
    static func step(
        _ pipeline: inout Pipeline, _ decoded: EventBatch, ahead: FeaturesAhead? = nil, _ lines: UnsafeBufferPointer<Range<Int>>,
        _ bytes: UnsafeRawBufferPointer, partitions: UnsafeBufferPointer<Int32> = .init(start: nil, count: 0),
        topic: String? = nil, deadLetters: UnsafeMutablePointer<DeadLetterFile?>?
    ) -> Double {
        let start = monotonicSeconds()
        if let deadLetters, deadLetters.pointee != nil {
            var sink = ReplaySink(deadLetters: deadLetters.pointee)
            apply(&pipeline, decoded, ahead: ahead, lines, bytes, partitions: partitions, topic: topic, sink: &sink)
            deadLetters.pointee = sink.deadLetters
        } else {
            var sink = NullSink()
            apply(&pipeline, decoded, ahead: ahead, lines, bytes, partitions: partitions, topic: topic, sink: &sink)
        }
        return monotonicSeconds() - start
    }

    /// Every line of a batch through one pipeline: a file's all on partition 0, a stream's each on its message's
    /// input partition (each partition's windows close by its own event time, as in the worker). With `ahead`, the
    /// batch's events were featurized ahead for this pipeline (``FeaturesAhead``).
    @inline(__always)
    static func apply<S: PipelineSink>(
        _ pipeline: inout Pipeline, _ decoded: EventBatch, ahead: FeaturesAhead?, _ lines: UnsafeBufferPointer<Range<Int>>,
        _ bytes: UnsafeRawBufferPointer, partitions: UnsafeBufferPointer<Int32>, topic: String?, sink: inout S
    ) {
        let entries = decoded.entries
        let ahead = ahead?.storage  // read once per batch (see FeaturesAhead)
        let streamed = topic != nil && partitions.count == lines.count
        for (i, line) in lines.enumerated() {
            let index = streamed ? pipeline.partitionIndex(topic: topic!, partition: partitions[i]) : 0
            let input = UnsafeRawBufferPointer(rebasing: bytes[line])
            pipeline.process(entries[i], of: decoded, ahead: ahead, entry: i, input: input, partition: index, sink: &sink)
        }
    }

    /// Replays a JSONL file (or "-" for standard input), with a progress line on stderr for long runs. With
    /// ``threads`` above 1 the file is read and decoded on a thread of its own, ahead of the learning
    /// (``runThreaded(_:progress:deadLetters:)``).
    public mutating func run(path: String, progress: Progress? = nil, deadLetters: inout DeadLetterFile?) throws(ReplayError) {
        let start = monotonicSeconds()
        defer { elapsedSeconds += monotonicSeconds() - start }
        let reader = try LineFileReader(path: path, chunkSize: batchBytes)
        if threads > 1 {
            try runThreaded(reader, progress: progress, deadLetters: &deadLetters)
            return
        }
        var lineReader = reader
        var progress = progress
        while true {
            // Reading is the time outside `feed`; `feed` charges decoding to reading itself.
            let readStart = monotonicSeconds()
            var elapsedInFeed = 0.0
            let more = try lineReader.nextBatch { lines, bytes in
                let t = monotonicSeconds()
                feed(lines, bytes: bytes, deadLetters: &deadLetters)
                elapsedInFeed += monotonicSeconds() - t
            }
            readSeconds += monotonicSeconds() - readStart - elapsedInFeed
            progress?.update(events: events, bytes: lineReader.bytesRead, total: lineReader.fileSize, metrics: pipelines[0].metrics)
            if !more { break }
        }
        finishAll()
        progress?.finish()
    }

    /// Ends the input: every pipeline's open windows close (timed as its step), on ``threads`` threads.
    mutating func finishAll() {
        let n = min(max(threads, 1), pipelines.count)
        var times = [Double](repeating: 0, count: pipelines.count)
        pipelines.withUnsafeMutableBufferPointer { all in
            times.withUnsafeMutableBufferPointer { times in
                let finish = ParallelFinish(pipelines: all, times: times)
                if n <= 1 {
                    for p in all.indices { finish.run(p) }
                } else {
                    DispatchQueue.concurrentPerform(iterations: all.count) { p in finish.run(p) }
                }
            }
        }
        for p in pipelines.indices { stepSeconds[p] += times[p] }
    }

    /// Reports, one per pipeline. Time = the pipeline's own step time plus the shared reading and decoding time
    /// (what the pipeline alone would cost one core; overlapped reading and learning take less wall time: that is
    /// ``elapsedSeconds``, the same in every report of the run).
    public func reports(input: String) -> [ReplayReport] {
        let rss = peakRSSBytes()
        return pipelines.indices.map { p in
            var report = ReplayReport(
                pipeline: pipelines[p], file: files[p], input: input, seconds: stepSeconds[p] + readSeconds, peakRSSBytes: rss)
            report.elapsedSeconds = elapsedSeconds
            report.threads = min(max(threads, 1), pipelines.count) + (threads > 1 ? 1 : 0)
            return report
        }
    }
}

/// One batch shared by the learning threads of ``Replay/feed(_:bytes:deadLetters:)``. Unchecked Sendable: each
/// thread runs disjoint pipelines (and writes only their time slots); the decoded batches, lines and bytes are only
/// read.
struct ParallelBatch: @unchecked Sendable {
    let pipelines: UnsafeMutableBufferPointer<Pipeline>
    let times: UnsafeMutableBufferPointer<Double>
    let decoded: [EventBatch]
    let decodingOf: [Int]
    let lines: UnsafeBufferPointer<Range<Int>>
    let bytes: UnsafeRawBufferPointer
    let deadLetters: UnsafeMutablePointer<DeadLetterFile?>

    func run(_ p: Int) {
        times[p] = Replay.step(&pipelines[p], decoded[decodingOf[p]], lines, bytes, deadLetters: p == 0 ? deadLetters : nil)
    }
}

/// The end of the input for every pipeline, on several threads: each thread finishes disjoint pipelines.
struct ParallelFinish: @unchecked Sendable {
    let pipelines: UnsafeMutableBufferPointer<Pipeline>
    let times: UnsafeMutableBufferPointer<Double>

    func run(_ p: Int) {
        let start = monotonicSeconds()
        var sink = NullSink()
        pipelines[p].finish(sink: &sink)
        times[p] = monotonicSeconds() - start
    }
}

/// Collects rejected events into a dead-letter JSONL file, byte-exact, so replays lose nothing.
///
/// One JSON object per line, keys sorted:
/// - `reason`, `field` (`""` for whole-input problems), `detail`: the ``RejectReason``;
/// - `input_base64`: the rejected input's bytes exactly as the pipeline saw them (a file line without its `\n` or
///   `\r\n`, a Kafka message value), standard base64 with padding; always present, `""` for an empty input;
/// - `input`: the same bytes as a JSON string, present only when they are valid UTF-8, for reading and `jq`.
///
/// `input_base64` is the input: invalid UTF-8, NUL and newlines survive it, where a text field would have to
/// replace or escape them. ``read(path:)`` gives the records back with their bytes.
public struct DeadLetterFile {
    let handle: FileHandle
    public private(set) var count = 0

    /// One record of a dead-letter file.
    public struct Record: Sendable, Equatable {
        /// The reject reason's code, e.g. `not_json`.
        public var reason: String
        /// The field concerned, `""` when none.
        public var field: String
        /// The reason's explanation.
        public var detail: String
        /// The rejected input, byte for byte.
        public var input: [UInt8]
    }

    public init(path: String) throws(ReplayError) {
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw .io("cannot create \(path)")
        }
        handle = h
    }

    /// Appends the record of `input`, rejected for `reason`.
    public mutating func write(_ reason: RejectReason, input: UnsafeRawBufferPointer) {
        let bytes = Data(input)
        var record: [String: String] = [
            "reason": reason.code, "field": reason.field ?? "", "detail": reason.detail,
            "input_base64": bytes.base64EncodedString(),
        ]
        if let text = Self.validUTF8(input) { record["input"] = text }
        if let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes]) {
            handle.write(data)
            handle.write(Data([0x0A]))
        }
        count += 1
    }

    /// The records of the dead-letter file at `path`, in order, inputs decoded from `input_base64`.
    public static func read(path: String) throws(ReplayError) -> [Record] {
        guard let data = FileManager.default.contents(atPath: path) else { throw .io("cannot read \(path)") }
        var records: [Record] = []
        for (index, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let reason = object["reason"] as? String, let field = object["field"] as? String,
                  let detail = object["detail"] as? String, let encoded = object["input_base64"] as? String,
                  let input = Data(base64Encoded: encoded)
            else { throw .io("\(path):\(index + 1): not a dead-letter record") }
            records.append(Record(reason: reason, field: field, detail: detail, input: Array(input)))
        }
        return records
    }

    /// `bytes` as a String when they are valid UTF-8, else nil (never a lossy decoding).
    static func validUTF8(_ bytes: UnsafeRawBufferPointer) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.utf8.elementsEqual(bytes) ? text : nil
    }
}

/// Seconds from a monotonic clock.
@inline(__always) public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Peak resident set size of this process, bytes.
public func peakRSSBytes() -> Int {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return usage.ru_maxrss
    #endif
}
