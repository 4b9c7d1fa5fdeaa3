import Kafka
import Testing

@Suite("KafkaProducer against the local broker", .serialized, .timeLimit(.minutes(2)))
struct KafkaProducerTests {
    @Test func everyMessageGetsOneSuccessfulReportWithItsTokenAndOffset() throws {
        let topic = try KafkaTestEnvironment.createTopic("produce", partitions: 3)
        let count = 300
        let reports = try TestMessages.produce(0..<count, to: topic)

        #expect(reports.count == count)
        #expect(reports.allSatisfy { $0.isDelivered }, "\(reports.filter { !$0.isDelivered }.prefix(3))")
        #expect(Set(reports.map(\.token)) == Set((0..<count).map(UInt64.init)))
        #expect(reports.allSatisfy { $0.topic == topic && $0.offset != nil && (0..<3).contains($0.partition) })

        // Offsets within a partition are 0, 1, 2, … with no gap or duplicate.
        for partition in Int32(0)..<3 {
            let offsets = reports.filter { $0.partition == partition }.compactMap(\.offset).sorted()
            #expect(offsets == Array(0..<Int64(offsets.count)))
        }
        // The same key always lands in the same partition.
        let partitionsPerKey = Dictionary(grouping: reports) { Int($0.token) % 7 }.mapValues { Set($0.map(\.partition)) }
        #expect(partitionsPerKey.values.allSatisfy { $0.count == 1 })
    }

    @Test func fullLocalQueueIsAbsorbedByPollingAndRetrying() throws {
        let topic = try KafkaTestEnvironment.createTopic("backpressure", partitions: 1)
        var configuration = try KafkaTestEnvironment.configuration(properties: ["queue.buffering.max.messages": "5"])
        configuration.linger = .milliseconds(50)
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestEnvironment.logger)
        let count = 100
        for i in 0..<count {
            try producer.send(topic: topic, key: nil, value: TestMessages.value(i), token: UInt64(i))
        }
        try producer.flush(timeout: .seconds(30))
        let reports = producer.awaitReports(count)
        #expect(reports.count == count)
        #expect(reports.allSatisfy { $0.isDelivered })
        // Idempotence keeps send order within the partition, however often the queue was full.
        #expect(reports.sorted { $0.offset! < $1.offset! }.map(\.token) == (0..<count).map(UInt64.init))
    }

    @Test func undeliverableMessageReportsAnErrorWithItsToken() throws {
        // Nothing listens on port 1 of the loopback: the message can only time out.
        var configuration = KafkaConfiguration(bootstrapServers: ["127.0.0.1:1"], clientID: "kafka-tests")
        configuration.deliveryTimeout = .milliseconds(500)
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestEnvironment.quietLogger)
        try producer.send(topic: "unreachable", key: nil, value: [1, 2, 3], token: 42)
        let reports = producer.awaitReports(1, timeout: .seconds(10))
        let report = try #require(reports.first)
        #expect(report.token == 42)
        #expect(!report.isDelivered)
        #expect(report.error?.code == .messageTimedOut)
    }

    @Test func messageForAMissingPartitionFailsWithUnknownPartition() throws {
        let topic = try KafkaTestEnvironment.createTopic("no-such-partition", partitions: 2)
        let producer = try KafkaProducer(configuration: KafkaTestEnvironment.configuration(), logger: KafkaTestEnvironment.logger)
        // Whether librdkafka already has the topic's metadata decides if this fails at once or in the report.
        do {
            try producer.send(topic: topic, key: nil, value: [0], partition: 99, token: 7)
            let report = try #require(producer.awaitReports(1, timeout: .seconds(15)).first)
            #expect(report.token == 7)
            #expect(report.error?.code == .unknownPartition)
        } catch let error as KafkaError {
            #expect(error.code == .unknownPartition)
        }
    }

    @Test func messageLargerThanTheConfiguredMaximumIsRejectedAtSend() throws {
        let topic = try KafkaTestEnvironment.createTopic("too-large", partitions: 1)
        let configuration = try KafkaTestEnvironment.configuration(properties: ["message.max.bytes": "1000"])
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestEnvironment.logger)
        let error = #expect(throws: KafkaError.self) {
            try producer.send(topic: topic, key: nil, value: [UInt8](repeating: 1, count: 5_000))
        }
        #expect(error?.code == .messageSizeTooLarge)
    }
}
