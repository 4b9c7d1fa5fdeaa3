import Events
import Foundation
import Learning
import Pipelines

/// Offline evaluation: runs event logs through the same ``Pipeline`` step as the worker (predict-then-learn in log
/// order) and reports progressive-validation metrics. Several pipelines can share one pass (`--compare`).
public struct Replay {
    /// Pipelines evaluated together, with the file each came from.
    public var pipelines: [Pipeline]
    public var files: [String]
    /// Seconds spent in each pipeline's step (decode included), plus its share of reading.
    var stepSeconds: [Double]
    var readSeconds = 0.0
    /// Events seen (per pipeline they are the same).
    public internal(set) var events: UInt64 = 0

    public init(pipelines: [(spec: PipelineSpec, file: String)]) {
        self.pipelines = pipelines.map { Pipeline(spec: $0.spec) }
        self.files = pipelines.map(\.file)
        self.stepSeconds = Array(repeating: 0, count: pipelines.count)
    }

    /// Feeds one batch of messages to every pipeline (each pipeline runs the whole batch, timed separately).
    public mutating func feed(_ lines: UnsafeBufferPointer<Range<Int>>, bytes: UnsafeRawBufferPointer, deadLetters: inout DeadLetterFile?) {
        for p in pipelines.indices {
            let start = monotonicSeconds()
            if p == 0, deadLetters != nil {
                var sink = ReplaySink(deadLetters: deadLetters)
                for line in lines { pipelines[p].process(UnsafeRawBufferPointer(rebasing: bytes[line]), sink: &sink) }
                deadLetters = sink.deadLetters
            } else {
                var sink = NullSink()
                for line in lines { pipelines[p].process(UnsafeRawBufferPointer(rebasing: bytes[line]), sink: &sink) }
            }
            stepSeconds[p] += monotonicSeconds() - start
        }
        events &+= UInt64(lines.count)
    }

    /// Replays a JSONL file (or "-" for standard input), with a progress line on stderr for long runs.
    public mutating func run(path: String, progress: Progress? = nil, deadLetters: inout DeadLetterFile?) throws(ReplayError) {
        var reader = try LineFileReader(path: path)
        var progress = progress
        while true {
            let readStart = monotonicSeconds()
            var more = false
            var elapsedInFeed = 0.0
            more = try reader.nextBatch { lines, bytes in
                let t = monotonicSeconds()
                feed(lines, bytes: bytes, deadLetters: &deadLetters)
                elapsedInFeed += monotonicSeconds() - t
            }
            readSeconds += monotonicSeconds() - readStart - elapsedInFeed
            progress?.update(events: events, bytes: reader.bytesRead, total: reader.fileSize, pipeline: pipelines[0])
            if !more { break }
        }
        for p in pipelines.indices {
            let start = monotonicSeconds()
            var sink = NullSink()
            pipelines[p].finish(sink: &sink)
            stepSeconds[p] += monotonicSeconds() - start
        }
        progress?.finish()
    }

    /// Reports, one per pipeline. Time = the pipeline's own step time plus the shared reading time.
    public func reports(input: String) -> [ReplayReport] {
        let rss = peakRSSBytes()
        return pipelines.indices.map { p in
            ReplayReport(pipeline: pipelines[p], file: files[p], input: input, seconds: stepSeconds[p] + readSeconds, peakRSSBytes: rss)
        }
    }
}

/// Collects rejected events into a dead-letter JSONL file (original bytes + reason), so replays lose nothing.
public struct DeadLetterFile {
    let handle: FileHandle
    public private(set) var count = 0

    public init(path: String) throws(ReplayError) {
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw .io("cannot create \(path)")
        }
        handle = h
    }

    mutating func write(_ reason: RejectReason, input: UnsafeRawBufferPointer) {
        let original = String(decoding: input, as: UTF8.self)
        let record: [String: String] = ["reason": reason.code, "field": reason.field ?? "", "detail": reason.detail, "original": original]
        if let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) {
            handle.write(data)
            handle.write(Data([0x0A]))
        }
        count += 1
    }
}

struct ReplaySink: PipelineSink {
    var deadLetters: DeadLetterFile?
    mutating func rejected(_ reason: RejectReason, input: UnsafeRawBufferPointer) { deadLetters?.write(reason, input: input) }
    func scored(_ event: borrowing EventView, probability: Double) {}
    func labelled(_ example: LabelledExample, itemID: UnsafeRawBufferPointer) {}
    func processed(_ event: borrowing EventView) {}
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
