/// The order in which a topic-range replay applies the messages of several partitions: by message timestamp, then
/// partition, then offset — the same on every run and every `--threads`, whatever order the consumer hands the
/// partitions over in (that order depends on fetch timing). Within a partition the order is always its offsets': a
/// message sorts by the greatest timestamp of its partition so far (one that goes back, or is missing, takes its
/// predecessor's).
///
/// The merge holds messages until every partition that is not finished has one buffered, then hands over the
/// earliest; so a caller reads until ``isWaiting`` is false. ``bufferedBytes(of:)`` lets it pause partitions that run
/// ahead (a partition whose messages are all later than another's buffers until that one catches up).
public struct PartitionMerge {
    struct Buffer {
        var bytes: [UInt8] = []
        /// Per message: its sort timestamp, offset and bytes.
        var entries: [(timestamp: Int64, offset: Int64, range: Range<Int>)] = []
        var head = 0
        /// The next offset expected (a message below it is a re-delivery and dropped).
        var nextOffset: Int64 = .min
        var lastTimestamp: Int64 = .min
        var finished = false

        var isEmpty: Bool { head == entries.count }
        var byteCount: Int { bytes.count - (isEmpty ? 0 : entries[head].range.lowerBound) }

        mutating func popFront() {
            head += 1
            if head == entries.count {
                bytes.removeAll(keepingCapacity: true)
                entries.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 4096, head * 2 >= entries.count {
                // Compact: keep what is unread at the front (amortized: at most as much as was read).
                let shift = entries[head].range.lowerBound
                bytes.removeSubrange(0..<shift)
                entries.removeSubrange(0..<head)
                for i in entries.indices {
                    entries[i].range = (entries[i].range.lowerBound - shift)..<(entries[i].range.upperBound - shift)
                }
                head = 0
            }
        }
    }

    /// The partitions, ascending (the tie-break after the timestamp).
    public let partitions: [Int32]
    var buffers: [Buffer]
    let slot: [Int32: Int]

    /// A merge of `partitions` (each appears once).
    public init(partitions: [Int32]) {
        self.partitions = partitions.sorted()
        buffers = Array(repeating: Buffer(), count: partitions.count)
        slot = Dictionary(uniqueKeysWithValues: self.partitions.enumerated().map { ($0.element, $0.offset) })
    }

    /// Buffers one message of `partition`. A message at an offset below one already buffered or handed over is a
    /// re-delivery (after a pause) and is dropped.
    public mutating func append(partition: Int32, offset: Int64, timestampMs: Int64?, value: UnsafeRawBufferPointer) {
        guard let i = slot[partition] else { preconditionFailure("partition \(partition) is not in the merge") }
        guard offset >= buffers[i].nextOffset else { return }
        buffers[i].nextOffset = offset + 1
        let timestamp = max(buffers[i].lastTimestamp, timestampMs ?? .min)
        buffers[i].lastTimestamp = timestamp
        let start = buffers[i].bytes.count
        buffers[i].bytes.append(contentsOf: value)
        buffers[i].entries.append((timestamp, offset, start..<buffers[i].bytes.count))
    }

    /// No message of `partition` follows (it reached the end of the range).
    public mutating func finish(partition: Int32) {
        guard let i = slot[partition] else { return }
        buffers[i].finished = true
    }

    /// Bytes buffered for `partition`.
    public func bufferedBytes(of partition: Int32) -> Int { slot[partition].map { buffers[$0].byteCount } ?? 0 }

    /// The next offset expected from `partition` (`Int64.min` before its first message).
    public func nextOffset(of partition: Int32) -> Int64 { slot[partition].map { buffers[$0].nextOffset } ?? .min }

    /// Some partition that is not finished has nothing buffered: the next message cannot be chosen yet.
    public var isWaiting: Bool { buffers.contains { $0.isEmpty && !$0.finished } }

    /// Nothing is buffered.
    public var isEmpty: Bool { buffers.allSatisfy(\.isEmpty) }

    /// Every partition is finished and handed over.
    public var isDone: Bool { buffers.allSatisfy { $0.isEmpty && $0.finished } }

    /// Partitions that are not finished and have nothing buffered (what the merge waits for).
    public var waitingFor: [Int32] { partitions.indices.filter { buffers[$0].isEmpty && !buffers[$0].finished }.map { partitions[$0] } }

    /// Hands over messages in order (`value`, partition) while the next one can be chosen, at most `limit` of them
    /// and until `body` returns false; returns how many. With `all` it goes on past waiting partitions (the end of a
    /// read that stopped short: what is buffered is all there is).
    @discardableResult
    public mutating func drain(all: Bool = false, limit: Int = .max, _ body: (UnsafeRawBufferPointer, Int32) -> Bool) -> Int {
        var n = 0
        while n < limit, all || !isWaiting {
            var best = -1
            for i in buffers.indices where !buffers[i].isEmpty {
                if best < 0 { best = i; continue }
                let a = buffers[i].entries[buffers[i].head], b = buffers[best].entries[buffers[best].head]
                if a.timestamp < b.timestamp { best = i }  // ties: the lower partition (scanned first) wins
            }
            guard best >= 0 else { break }
            let entry = buffers[best].entries[buffers[best].head]
            let more = buffers[best].bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[entry.range]), partitions[best]) }
            buffers[best].popFront()
            n += 1
            if !more { break }
        }
        return n
    }
}
