import Events
import Pipelines

// A stream replay (a Kafka topic range, read by the CLI) on several threads: the caller's reading function runs on
// the reading thread and fills chunks of messages, each with its input partition; each chunk is decoded there once
// per decoding group, and the pipelines learn on the learning threads exactly as in a file replay. The messages are
// applied in the order the reading function hands them over — the order the message-by-message path
// (``Replay/feed(message:topic:partition:sink:)``) applies them in — so the results are the same.

/// Messages read for a stream replay, each with its input partition: what a reading function fills.
public struct MessageChunk: ~Copyable {
    var bytes: [UInt8] = []
    var lines: [Range<Int>] = []
    var partitions: [Int32] = []
    /// The chunk is full at this many bytes (the replay's batch size): the reading function returns then.
    public let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        bytes.reserveCapacity(capacity)
    }

    /// Appends one message of input partition `partition`.
    public mutating func append(_ value: UnsafeRawBufferPointer, partition: Int32) {
        let start = bytes.count
        bytes.append(contentsOf: value)
        lines.append(start..<bytes.count)
        partitions.append(partition)
    }

    /// Messages in the chunk.
    public var count: Int { lines.count }
    /// Whether the chunk holds `capacity` bytes or more.
    public var isFull: Bool { bytes.count >= capacity }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        lines.removeAll(keepingCapacity: true)
        partitions.removeAll(keepingCapacity: true)
    }
}

/// The reading thread of a stream replay: calls the reading function until it reports the end of the stream.
final class StreamSource: BatchSource, @unchecked Sendable {
    let next: (inout MessageChunk) throws -> Bool
    let capacity: Int
    /// What the reading function threw, if it did.
    var error: (any Error)?

    init(capacity: Int, next: @escaping (inout MessageChunk) throws -> Bool) {
        self.capacity = capacity
        self.next = next
    }

    func read(into ring: BatchRing) -> ReadingOutcome {
        var outcome = ReadingOutcome()
        var chunk = MessageChunk(capacity: capacity)
        var b = 0
        var more = true
        while more {
            chunk.removeAll()
            do {
                more = try next(&chunk)
            } catch {
                self.error = error
                more = false
            }
            guard chunk.count > 0 else { continue }
            let slot = ring.waitForSlot(b)
            let start = monotonicSeconds()
            chunk.lines.withUnsafeBufferPointer { lines in
                chunk.bytes.withUnsafeBytes { bytes in slot.fill(lines, bytes) }
            }
            slot.partitions.removeAll(keepingCapacity: true)
            slot.partitions.append(contentsOf: chunk.partitions)
            outcome.seconds += monotonicSeconds() - start
            outcome.lines &+= UInt64(chunk.count)
            slot.linesThrough = outcome.lines
            slot.bytesThrough = 0
            ring.publish()
            b += 1
        }
        ring.end()
        return outcome
    }
}

extension Replay {
    /// Replays a stream of messages of `topic` on a reading thread and ``threads`` learning threads: `next`, called
    /// on the reading thread only, appends messages to the chunk (returning once it ``MessageChunk/isFull`` or
    /// nothing more is at hand), and returns false at the end of the stream. What it throws ends the replay and is
    /// rethrown. Call ``finishStream(seconds:)`` after, as after feeding messages one by one.
    public mutating func runStream(
        topic: String, progress: Progress? = nil, deadLetters: inout DeadLetterFile?,
        next: @escaping (inout MessageChunk) throws -> Bool
    ) throws {
        let source = StreamSource(capacity: batchBytes, next: next)
        _ = runOnThreads(source, total: nil, topic: topic, progress: progress, deadLetters: &deadLetters)
        if let error = source.error { throw error }
    }
}
