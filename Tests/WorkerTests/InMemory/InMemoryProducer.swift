import Kafka
@testable import Worker

/// A producer to an ``InMemoryBroker``: a sent message waits until a `flush`, which delivers it (appends it to its
/// topic) or fails it as ``failsDelivery`` decides; its report then waits until a `poll` serves it. Journals sends,
/// flushes and served reports.
final class InMemoryProducer: OutputProducer {
    struct Pending {
        var topic: String
        var partition: Int32
        var record: InMemoryBroker.Record
        var token: UInt64
    }

    let broker: InMemoryBroker
    /// Whether a message to this topic fails its delivery (after "the client's retries").
    var failsDelivery: (String) -> Bool = { _ in false }
    private(set) var inFlight: [Pending] = []
    private(set) var reports: [KafkaDeliveryReport] = []

    init(broker: InMemoryBroker) { self.broker = broker }

    func send(
        topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [KafkaHeader], partition: Int32?,
        token: UInt64
    ) throws {
        broker.record(.send(topic: topic))
        inFlight.append(Pending(
            topic: topic, partition: partition ?? 0, record: .init(key: key.map(Array.init), value: value.map(Array.init), headers: headers),
            token: token))
    }

    func poll(timeout: Duration, _ body: (KafkaDeliveryReport) throws -> Void) rethrows -> Int {
        let served = reports
        reports = []
        for report in served {
            broker.record(.delivered(topic: report.topic, ok: report.isDelivered))
            try body(report)
        }
        return served.count
    }

    var outstandingCount: Int { inFlight.count + reports.count }

    func flush(timeout: Duration) throws {
        broker.record(.flush)
        for m in inFlight {
            if failsDelivery(m.topic) {
                reports.append(KafkaDeliveryReport(
                    token: m.token, topic: m.topic, partition: m.partition, offset: nil,
                    error: KafkaError(code: .messageTimedOut, message: "delivery failed (in-memory broker)")))
            } else {
                let offset = broker.append(m.record, to: m.topic, partition: m.partition)
                reports.append(KafkaDeliveryReport(token: m.token, topic: m.topic, partition: m.partition, offset: offset, error: nil))
            }
        }
        inFlight = []
    }
}
