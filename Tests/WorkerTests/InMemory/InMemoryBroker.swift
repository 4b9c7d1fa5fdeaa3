import Kafka

/// A broker in memory for the worker loop's tests (in the spirit of swift-nio's EmbeddedChannel): topics are arrays
/// of records, one consumer group's committed offsets a dictionary, and every call the loop makes to its clients is
/// written to ``journal`` in order — so that the exactly-once rules (`WorkerLoop+Checkpoints.swift`) are checked in
/// milliseconds. ``InMemoryConsumer`` and ``InMemoryProducer`` are its clients. Single-threaded, like the loop.
final class InMemoryBroker {
    struct Record {
        var key: [UInt8]?
        var value: [UInt8]?
        var headers: [KafkaHeader] = []
        var timestampMs: Int64 = 0
    }

    /// A topic's partitions. A class: its identity stands for the topic in the messages handed to the loop.
    final class Topic {
        var partitions: [[Record]]
        init(partitions: Int) { self.partitions = Array(repeating: [], count: partitions) }
    }

    /// A call the loop made, as the journal records it.
    enum Call: Equatable {
        case subscribe([String])
        /// A rebalance handed to the loop's handler (before it runs)…
        case rebalance(KafkaRebalanceEvent.Kind, [KafkaTopicPartition], lost: Bool)
        /// …and acknowledged when the handler returned, with where each assigned partition starts.
        case acknowledged(KafkaRebalanceEvent.Kind, starts: [KafkaTopicPartition: Int64])
        case commit([KafkaTopicPartition: Int64], synchronous: Bool)
        case send(topic: String)
        case flush
        /// A delivery report served to the loop.
        case delivered(topic: String, ok: Bool)
        case close
        case abandon
    }

    /// A journal entry: the call, and what ``probe`` said when it was made (the tests count checkpoint files).
    struct Entry {
        var call: Call
        var probe: Int
    }

    private(set) var topics: [String: Topic] = [:]
    /// The group's committed offsets (next offset to read).
    var committed: [KafkaTopicPartition: Int64] = [:]
    private(set) var journal: [Entry] = []
    /// Observed at every journal entry.
    var probe: () -> Int = { 0 }

    func createTopic(_ name: String, partitions: Int) {
        if topics[name] == nil { topics[name] = Topic(partitions: partitions) }
    }

    /// Appends a record (creating a one-partition topic when missing, like a broker that auto-creates topics) and
    /// returns its offset.
    @discardableResult
    func append(_ record: Record, to topic: String, partition: Int32 = 0) -> Int64 {
        createTopic(topic, partitions: Int(partition) + 1)
        let t = topics[topic]!
        t.partitions[Int(partition)].append(record)
        return Int64(t.partitions[Int(partition)].count - 1)
    }

    func records(_ tp: KafkaTopicPartition) -> [Record] {
        guard let t = topics[tp.topic], Int(tp.partition) < t.partitions.count else { return [] }
        return t.partitions[Int(tp.partition)]
    }

    func end(of tp: KafkaTopicPartition) -> Int64 { Int64(records(tp).count) }

    func record(_ call: Call) { journal.append(Entry(call: call, probe: probe())) }

    /// The calls alone.
    var calls: [Call] { journal.map(\.call) }
}
