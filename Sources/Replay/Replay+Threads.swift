import Events
import Foundation
import Learning
import Pipelines

// A file replay on several threads: one thread reads the file and decodes each batch of lines once (per decoding
// group), into a ring of `Replay.queuedBatches` batches; the pipelines learn on up to `threads` threads, each taking
// the next batch of whichever pipeline is furthest behind and not being run. A pipeline applies the batches in file
// order, one thread at a time, so it computes exactly what the in-line path computes: the results are bit-identical
// whatever the thread count. Reading waits when the ring is full (a slot is free again once every pipeline is done
// with its batch), learning when a pipeline has caught up with reading.
//
// A single pipeline is also featurized on the reading thread, by a copy of its featurizer (``FeaturesAhead``): the
// values of each event's namespaces and its keys are loaded by the step instead of hashed there, so reading,
// decoding and featurizing overlap learning. With several pipelines featurizing stays in each pipeline's step, on
// the learning threads: their rows differ from pipeline to pipeline, and one reading thread featurizing for all of
// them would become the slowest stage (the learning threads are as many as the cores).

extension Replay {
    /// The bound of the queue between reading and learning: batches read and decoded ahead of the slowest
    /// pipeline (each up to ``batchBytes`` of input, 256 KiB, plus its decoded events and, for a single pipeline,
    /// its features: about 2 MiB of input in all).
    public static let queuedBatches = 8

    /// ``run(path:progress:deadLetters:)`` with a reading thread and up to ``threads`` learning threads.
    mutating func runThreaded(
        _ reader: consuming LineFileReader, progress: Progress?, deadLetters: inout DeadLetterFile?
    ) throws(ReplayError) {
        let fileSize = reader.fileSize
        let reading = runOnThreads(LineSource(reader), total: fileSize, topic: nil, progress: progress, deadLetters: &deadLetters)
        if let failure = reading.failure { throw failure }
        finishAll()
    }

    /// Reads and decodes from `source` on a thread of its own into the ring, while the pipelines learn on up to
    /// ``threads`` threads (at least one: the calling thread). Charges the pipelines' and the reader's time.
    mutating func runOnThreads(
        _ source: some BatchSource, total: UInt64?, topic: String?, progress: Progress?, deadLetters: inout DeadLetterFile?
    ) -> ReadingOutcome {
        let featurizing = pipelines.count == 1 ? AheadFeaturizing(pipelines[0].makeFeaturizerAhead()) : nil
        let box = ProgressBox(progress, total: total)
        // One pipeline: its progressive metrics are recorded on the reading thread (``DeferredMetrics``).
        var deferred: DeferredMetrics? = nil
        if pipelines.count == 1 {
            var placeholder = ProgressiveMetrics(windowSize: 1, calibrationBins: 1, aucBins: 1)
            pipelines[0].swapMetrics(&placeholder)
            deferred = DeferredMetrics(placeholder, progress: box)
        }
        let ring = BatchRing(
            slots: (0..<Self.queuedBatches).map { _ in
                ReadBatch(
                    capacity: batchBytes, decodings: decodings.map { $0.makeEmptyCopy() }, featurizing: featurizing,
                    metricsLog: deferred == nil ? nil : MetricsLog())
            },
            pipelines: pipelines.count, deferred: deferred)
        let learners = min(max(threads, 1), pipelines.count)
        var times = [Double](repeating: 0, count: pipelines.count)
        var reading = ReadingOutcome()
        pipelines.withUnsafeMutableBufferPointer { array in
            let own = SeparatePipelines(moving: array)
            defer { own.moveBack(into: array) }
            let all = own.pointers
            times.withUnsafeMutableBufferPointer { times in
                withUnsafeMutablePointer(to: &deadLetters) { letters in
                    withUnsafeMutablePointer(to: &reading) { reading in
                        let work = LearningWork(
                            ring: ring, pipelines: all, times: times, decodingOf: decodingOf, deadLetters: letters,
                            progress: box, topic: topic)
                        let done = DispatchSemaphore(value: 0)
                        let readerOutcome = UnsafeSendable(reading)
                        let source = UnsafeSendable(source)
                        Thread.detachNewThread {
                            readerOutcome.value.pointee = source.value.read(into: ring)
                            done.signal()
                        }
                        for i in 1..<learners {
                            Thread.detachNewThread {
                                work.learn(thread: i)
                                done.signal()
                            }
                        }
                        work.learn(thread: 0)
                        // One signal each from the reading thread and the `learners - 1` other learning threads.
                        for _ in 0..<learners { done.wait() }
                        work.progress.finish()
                    }
                }
            }
        }
        if let deferred {
            // The batches the reading thread has not taken back: recorded in batch order, then the metrics go back to
            // the pipeline (whatever follows, such as the end of the input, records there).
            ring.recordDeferredMetrics()
            pipelines[0].metricsLog = nil
            pipelines[0].swapMetrics(&deferred.metrics)
        }
        for p in pipelines.indices { stepSeconds[p] += times[p] }
        readSeconds += reading.seconds
        events &+= reading.lines
        return reading
    }
}

/// What a reading thread reads from: a file (``LineSource``) or a stream of messages (``StreamSource``).
protocol BatchSource {
    /// Reads and decodes into the ring, batch after batch, until the end or an error; ends the ring.
    func read(into ring: BatchRing) -> ReadingOutcome
}

/// What the reading thread did: its busy seconds (reading and decoding, waits excluded), the lines it handed out,
/// and the error that stopped it, if any.
struct ReadingOutcome {
    var seconds = 0.0
    var lines: UInt64 = 0
    var failure: ReplayError?
}

/// A value handed to another thread that the caller keeps safe itself (here: a result slot written by one thread and
/// read after joining it).
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// One batch of the ring: the input lines (a copy of the reader's chunk, so the reader can move on) and their
/// decodings, one per decoding group.
final class ReadBatch: @unchecked Sendable {
    var bytes: UnsafeMutableRawBufferPointer
    var lines: [Range<Int>] = []
    /// The input partition of each line, for a stream of messages (empty for a file: one partition).
    var partitions: [Int32] = []
    let decodings: [EventBatch]
    /// The batch featurized ahead, for a replay of one pipeline (its one decoding), and the featurizer that fills it
    /// (the reading thread's, shared by every slot).
    let ahead: FeaturesAhead?
    let featurizing: AheadFeaturizing?
    /// Lines and bytes read up to the end of this batch (progress).
    var linesThrough: UInt64 = 0
    var bytesThrough: UInt64 = 0
    /// For a replay of one pipeline: the progressive-validation records of this batch's step, recorded by the reading
    /// thread when it takes the slot back (``DeferredMetrics``).
    let metricsLog: MetricsLog?

    init(capacity: Int, decodings: [EventBatch], featurizing: AheadFeaturizing?, metricsLog: MetricsLog? = nil) {
        bytes = .allocate(byteCount: capacity, alignment: 64)
        self.decodings = decodings
        self.featurizing = featurizing
        self.metricsLog = metricsLog
        ahead = featurizing.map { $0.featurizer.makeBatch() }
        lines.reserveCapacity(8192)
    }

    deinit { bytes.deallocate() }

    /// Copies a chunk's lines and decodes them.
    func fill(_ lines: UnsafeBufferPointer<Range<Int>>, _ chunk: UnsafeRawBufferPointer) {
        let used = lines.last.map(\.upperBound) ?? 0
        if used > bytes.count {
            bytes.deallocate()
            bytes = .allocate(byteCount: used, alignment: 64)
        }
        if used > 0 { bytes.baseAddress!.copyMemory(from: chunk.baseAddress!, byteCount: used) }
        self.lines.removeAll(keepingCapacity: true)
        self.lines.append(contentsOf: lines)
        let copied = UnsafeRawBufferPointer(bytes)
        self.lines.withUnsafeBufferPointer { lines in
            for decoding in decodings { Replay.decode(lines, copied, into: decoding) }
        }
        if let ahead, let featurizing { featurizing.featurizer.featurize(decodings[0], into: ahead) }
    }
}

/// The reading thread's featurizer for ``FeaturesAhead`` (only that thread uses it, through the batches it fills).
final class AheadFeaturizing: @unchecked Sendable {
    var featurizer: FeaturizerAhead
    init(_ featurizer: FeaturizerAhead) { self.featurizer = featurizer }
}

extension EventBatch {
    /// An empty batch that decodes as this one.
    func makeEmptyCopy() -> EventBatch { EventBatch(contextKeys: contextKeys, maxBytes: maxBytes) }
}

/// The line reader, handed to the reading thread (the lock-free hand-over of a value only that thread uses).
final class LineSource: BatchSource, @unchecked Sendable {
    var reader: LineFileReader

    init(_ reader: consuming LineFileReader) { self.reader = reader }

    /// Reads and decodes the file into the ring, batch after batch, until its end or an error.
    func read(into ring: BatchRing) -> ReadingOutcome {
        var outcome = ReadingOutcome()
        var b = 0
        do throws(ReplayError) {
            while true {
                let slot = ring.waitForSlot(b)
                let start = monotonicSeconds()
                let more = try reader.nextBatch { lines, chunk in slot.fill(lines, chunk) }
                outcome.seconds += monotonicSeconds() - start
                guard more else { break }
                outcome.lines &+= UInt64(slot.lines.count)
                slot.linesThrough = outcome.lines
                slot.bytesThrough = reader.bytesRead
                ring.publish()
                b += 1
            }
        } catch {
            outcome.failure = error
        }
        ring.end()
        return outcome
    }
}

/// The batches between the reading thread and the learning threads, and which pipeline is at which batch.
final class BatchRing: @unchecked Sendable {
    let condition = NSCondition()
    let slots: [ReadBatch]
    /// Batches published so far (batch `b` is in slot `b % slots.count`).
    var published = 0
    /// Per pipeline: the next batch it applies, and whether a thread is applying one now.
    var next: [Int]
    var running: [Bool]
    /// The reading thread is done (end of file or error): no batch will be published any more.
    var ended = false
    /// A replay of one pipeline: its progressive metrics, recorded by the reading thread.
    let deferred: DeferredMetrics?

    init(slots: [ReadBatch], pipelines: Int, deferred: DeferredMetrics? = nil) {
        self.slots = slots
        next = Array(repeating: 0, count: pipelines)
        running = Array(repeating: false, count: pipelines)
        self.deferred = deferred
    }

    /// The slot for batch `b`, once every pipeline is done with the batch that held it before. With
    /// ``deferred`` metrics, the records of that earlier batch are recorded first (on the reading thread, the only
    /// caller), and the progress line drawn.
    func waitForSlot(_ b: Int) -> ReadBatch {
        condition.lock()
        while b - (next.min() ?? b) >= slots.count { condition.wait() }
        condition.unlock()
        let slot = slots[b % slots.count]
        if let deferred, b >= slots.count {
            slot.metricsLog!.record(into: &deferred.metrics)
            deferred.progress.progress?.update(
                events: slot.linesThrough, bytes: slot.bytesThrough, total: deferred.progress.total, metrics: deferred.metrics)
        }
        return slot
    }

    /// Records the deferred metrics of the last ``published`` batches the reading thread did not take back, in order
    /// (after the threads are joined).
    func recordDeferredMetrics() {
        guard let deferred else { return }
        for b in max(0, published - slots.count)..<published {
            slots[b % slots.count].metricsLog!.record(into: &deferred.metrics)
        }
    }

    func publish() {
        condition.lock()
        published += 1
        condition.broadcast()
        condition.unlock()
    }

    func end() {
        condition.lock()
        ended = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next (pipeline, batch) to apply: the pipeline furthest behind among those with a batch ready and no
    /// thread (on a tie, `preferred`, the one this thread ran last); nil when every pipeline has applied every
    /// batch or is being run by another thread, and reading has ended (whatever is left belongs to the threads
    /// running those).
    func take(preferring preferred: Int) -> (pipeline: Int, batch: Int)? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            var pick = -1
            for p in next.indices where !running[p] && next[p] < published {
                if pick < 0 || next[p] < next[pick] || (next[p] == next[pick] && p == preferred) { pick = p }
            }
            if pick >= 0 {
                running[pick] = true
                return (pick, next[pick])
            }
            if ended { return nil }
            condition.wait()
        }
    }

    /// Pipeline `p` applied its batch.
    func done(_ p: Int) {
        condition.lock()
        running[p] = false
        next[p] += 1
        condition.broadcast()
        condition.unlock()
    }
}

/// A replay of one pipeline records its progressive metrics on the reading thread: the learning thread sets the pace
/// (its step is the slower stage), and the metrics need nothing of the model but the predictions. The step appends
/// each record to its batch's ``MetricsLog``; the reading thread records them when it takes the batch's slot back
/// (``BatchRing/waitForSlot(_:)``), so in batch order, and the rest once the threads are joined. The pipeline's own
/// metrics wait here meanwhile (``Pipeline/swapMetrics(_:)``). Bit-identical: the same records in the same order.
final class DeferredMetrics: @unchecked Sendable {
    var metrics: ProgressiveMetrics
    let progress: ProgressBox

    init(_ metrics: ProgressiveMetrics, progress: ProgressBox) {
        self.metrics = metrics
        self.progress = progress
    }
}

/// The progress line, drawn by whichever thread runs pipeline 0 (one at a time: the ring hands it to one thread), or
/// with ``DeferredMetrics`` by the reading thread.
final class ProgressBox: @unchecked Sendable {
    var progress: Progress?
    let total: UInt64?
    init(_ progress: Progress?, total: UInt64?) {
        self.progress = progress
        self.total = total
    }
    func finish() { progress?.finish() }
}

/// What the learning threads share. Unchecked Sendable: a pipeline, its time slot (and pipeline 0's dead letters
/// and progress line) are touched by the one thread the ring gave it to, until it hands it back through the ring's
/// lock; the batches are only read while published.
struct LearningWork: @unchecked Sendable {
    let ring: BatchRing
    let pipelines: [UnsafeMutablePointer<Pipeline>]
    let times: UnsafeMutableBufferPointer<Double>
    let decodingOf: [Int]
    let deadLetters: UnsafeMutablePointer<DeadLetterFile?>
    let progress: ProgressBox
    /// The topic of a stream's messages (their partitions are each batch's `partitions`); nil for a file.
    let topic: String?

    /// A learning thread: applies batches until there is nothing left for it.
    func learn(thread: Int) {
        var last = thread
        while let (p, b) = ring.take(preferring: last) {
            let slot = ring.slots[b % ring.slots.count]
            if let log = slot.metricsLog { pipelines[p].pointee.metricsLog = log }
            slot.lines.withUnsafeBufferPointer { lines in
                slot.partitions.withUnsafeBufferPointer { partitions in
                    times[p] += Replay.step(
                        &pipelines[p].pointee, slot.decodings[decodingOf[p]], ahead: slot.ahead, lines, UnsafeRawBufferPointer(slot.bytes),
                        partitions: partitions, topic: topic, deadLetters: p == 0 ? deadLetters : nil)
                }
            }
            if p == 0, ring.deferred == nil {
                progress.progress?.update(
                    events: slot.linesThrough, bytes: slot.bytesThrough, total: progress.total, metrics: pipelines[0].pointee.metrics)
            }
            last = p
            ring.done(p)
        }
    }
}

/// The pipelines of a threaded replay, each moved into memory of its own that starts and ends on a cache line
/// boundary, for as long as the threads learn. The learning threads write fields of their pipelines at every event
/// (counters, the featurizer's and the join's inline state); side by side in an array's buffer, the end of one
/// pipeline and the start of the next share a cache line, and two threads writing there take the line from each other
/// at every event. Measured (`farm-bench -n 8`, `replay --compare` of the three shipped pipelines on MovieLens x10,
/// 2026-12-06): a field added to `Pipeline` moved the boundary and made it 5 % slower (wall, median of paired runs,
/// 1.05); in memory of their own, 0.95 of that and 0.99 of the build before the field. Moved, not copied: a copy
/// would share the pipelines' arrays and make the first write to each copy them.
final class SeparatePipelines: @unchecked Sendable {
    let pointers: [UnsafeMutablePointer<Pipeline>]
    static let line = 128  // two 64-byte lines: the adjacent-line prefetcher pulls pairs

    /// Moves every pipeline of `array` out, leaving its elements uninitialized until ``moveBack(into:)``.
    init(moving array: UnsafeMutableBufferPointer<Pipeline>) {
        let bytes = (MemoryLayout<Pipeline>.stride + Self.line - 1) / Self.line * Self.line
        pointers = array.indices.map { i in
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.line)
            let p = raw.bindMemory(to: Pipeline.self, capacity: 1)
            p.moveInitialize(from: array.baseAddress! + i, count: 1)
            return p
        }
    }

    /// Moves the pipelines back into `array` and frees their memory.
    func moveBack(into array: UnsafeMutableBufferPointer<Pipeline>) {
        for (i, p) in pointers.enumerated() {
            (array.baseAddress! + i).moveInitialize(from: p, count: 1)
            UnsafeMutableRawPointer(p).deallocate()
        }
    }
}
