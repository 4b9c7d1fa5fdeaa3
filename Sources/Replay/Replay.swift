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
