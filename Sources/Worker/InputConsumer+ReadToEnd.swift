import Kafka

extension InputConsumer {
    /// Hands every message of `topic`'s assigned partition, from `start`, to `body`: until the end the broker
    /// reported, then until a poll brings nothing more (Tansu, the local broker, reports the base offset of the last
    /// batch + 1 as the end; the rest of that batch follows it). Fails after `timeout`.
    func readToEnd(
        _ topic: String, from start: Int64, end: Int64, timeout: Duration = .seconds(30), _ body: (KafkaMessage) throws -> Void
    ) throws {
        var next = start
        let deadline = ContinuousClock.now + timeout
        var drained = false
        while next < end || !drained {
            guard ContinuousClock.now < deadline else {
                throw WorkerError.kafka("reading \(topic) to its end timed out at offset \(next) of \(end)")
            }
            let messages = try poll(timeout: .milliseconds(next < end ? 200 : 50), maxMessages: 1024)
            drained = next >= end && messages.isEmpty
            for message in messages {
                next = max(next, message.offset + 1)
                try body(message)
            }
        }
    }
}
