import Kafka
import Testing

@Suite("KafkaConsumer against the local broker", .serialized, .timeLimit(.minutes(3)))
struct KafkaConsumerTests {
    @Test func groupMemberReadsEverythingCommitsAndTheNextMemberResumesAfterTheCommit() throws {
        let topic = try KafkaTestEnvironment.createTopic("group", partitions: 3)
        let group = KafkaTestEnvironment.uniqueName("group")
        let first = 120
        let reports = try TestMessages.produce(0..<first, to: topic)
        try #require(reports.count == first && reports.allSatisfy { $0.isDelivered })
        let reportByToken = Dictionary(uniqueKeysWithValues: reports.map { ($0.token, $0) })

        // First member: read everything, commit, check the committed offsets and the lag.
        let consumer = try KafkaConsumer(configuration: KafkaTestEnvironment.configuration(groupID: group), logger: KafkaTestEnvironment.logger)
        try consumer.subscribe(topics: [topic])
        var assigned: Set<KafkaTopicPartition> = []
        let messages = try consumer.collect(onRebalance: { event in
            if event.kind == .assigned { assigned.formUnion(event.partitions) }
            return .proceed
        }, until: { $0.count >= first })

        let all = Set((0..<Int32(3)).map { KafkaTopicPartition(topic: topic, partition: $0) })
        #expect(assigned == all)
        #expect(messages.count == first)
        for message in messages {
            let index = try #require(Int(message.text.dropFirst()))
            let report = try #require(reportByToken[UInt64(index)])
            #expect(message.topic == topic)
            #expect(message.partition == report.partition && message.offset == report.offset)
            #expect(message.key == TestMessages.key(index))
            #expect(message.headers == [KafkaHeader(name: "seq", value: String(index))])
            #expect(message.timestamp != nil)
        }
        var next: [KafkaTopicPartition: Int64] = [:]
        for message in messages { next[message.topicPartition] = max(next[message.topicPartition] ?? 0, message.offset + 1) }
        let commits = next.map { KafkaTopicPartitionOffset($0.key, offset: KafkaOffset($0.value)) }
        try consumer.commit(offsets: commits, synchronous: true)

        let committed = try consumer.committed(Array(all))
        #expect(Set(committed) == Set(commits))
        let lags = try consumer.lag(for: Array(all))
        #expect(lags.count == 3)
        #expect(lags.allSatisfy { $0.lag == 0 && $0.highWatermark == next[$0.topicPartition] }, "\(lags)")
        #expect(consumer.memberID != nil)
        try consumer.close()
        #expect(throws: KafkaError.self) { try consumer.poll(timeout: .zero) as [KafkaMessage] }

        // Next member of the same group: starts at the committed offsets, so sees only new messages.
        let more = 30
        let moreReports = try TestMessages.produce(first..<(first + more), to: topic)
        try #require(moreReports.count == more)
        let successor = try KafkaConsumer(configuration: KafkaTestEnvironment.configuration(groupID: group), logger: KafkaTestEnvironment.logger)
        try successor.subscribe(topics: [topic])
        let resumed = try successor.collect(until: { $0.count >= more })
        // A short extra poll would reveal re-delivered old messages.
        let extra: [KafkaMessage] = try successor.poll(timeout: .milliseconds(500))
        #expect(Set((resumed + extra).map(\.text)) == Set((first..<(first + more)).map { "v\($0)" }))
        #expect(resumed.count + extra.count == more)
        try successor.close()
    }

    @Test func startOffsetsReturnedByTheAssignHandlerAreWhereReadingBegins() throws {
        let topic = try KafkaTestEnvironment.createTopic("start-at", partitions: 1)
        _ = try TestMessages.produce(0..<10, to: topic)
        let consumer = try KafkaConsumer(
            configuration: KafkaTestEnvironment.configuration(groupID: KafkaTestEnvironment.uniqueName("start-at")),
            logger: KafkaTestEnvironment.logger)
        try consumer.subscribe(topics: [topic])
        let startAtSix: (KafkaRebalanceEvent) -> KafkaRebalanceResponse = { event in
            .start(at: event.partitions.map { KafkaTopicPartitionOffset($0, offset: KafkaOffset(6)) })
        }
        // One message at a time first, so the lag can be seen mid-way: offset 6 read, 7…9 left.
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while messages.isEmpty && ContinuousClock.now < deadline {
            messages += try consumer.poll(timeout: .milliseconds(100), maxMessages: 1, onRebalance: startAtSix)
        }
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        #expect(try consumer.lag(for: [partition]).first?.lag == 3)
        messages += try consumer.collect(onRebalance: startAtSix, until: { $0.count >= 3 })
        #expect(messages.map(\.offset) == [6, 7, 8, 9])
        #expect(messages.map(\.text) == ["v6", "v7", "v8", "v9"])
        #expect(try consumer.lag().map(\.lag) == [0])
        try consumer.close()
    }

    @Test func failingAssignHandlerPausesTheNewPartitionsAndRethrows() throws {
        struct CheckpointUnreadable: Error {}
        let topic = try KafkaTestEnvironment.createTopic("assign-fails", partitions: 1)
        _ = try TestMessages.produce(0..<5, to: topic)
        let consumer = try KafkaConsumer(
            configuration: KafkaTestEnvironment.configuration(groupID: KafkaTestEnvironment.uniqueName("assign-fails")),
            logger: KafkaTestEnvironment.quietLogger)
        try consumer.subscribe(topics: [topic])
        var thrown: (any Error)?
        let deadline = ContinuousClock.now + .seconds(30)
        while thrown == nil && ContinuousClock.now < deadline {
            do {
                let messages: [KafkaMessage] = try consumer.poll(timeout: .milliseconds(100)) { event in
                    if event.kind == .assigned { throw CheckpointUnreadable() }
                    return .proceed
                }
                #expect(messages.isEmpty)
            } catch {
                thrown = error
            }
        }
        #expect(thrown is CheckpointUnreadable)
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        #expect(try consumer.assignment() == [partition], "the rebalance is acknowledged all the same")
        let whilePaused = try consumer.collect(timeout: .seconds(1), until: { _ in false })
        #expect(whilePaused.isEmpty, "paused until the caller decides")
        try consumer.resume([partition])
        #expect(try consumer.collect(until: { $0.count >= 5 }).map(\.offset) == [0, 1, 2, 3, 4])
        try consumer.close()
    }

    @Test func assignedPartitionsHonourPauseResumeSeekAndPosition() throws {
        let topic = try KafkaTestEnvironment.createTopic("flow", partitions: 2)
        let p0 = KafkaTopicPartition(topic: topic, partition: 0)
        let p1 = KafkaTopicPartition(topic: topic, partition: 1)
        _ = try TestMessages.produce(0..<10, to: topic, partition: 0)
        _ = try TestMessages.produce(10..<20, to: topic, partition: 1)

        let consumer = try KafkaConsumer(
            configuration: KafkaTestEnvironment.configuration(groupID: KafkaTestEnvironment.uniqueName("flow")),
            logger: KafkaTestEnvironment.logger)
        try consumer.assign([KafkaTopicPartitionOffset(p0, offset: .beginning), KafkaTopicPartitionOffset(p1, offset: .beginning)])
        #expect(Set(try consumer.assignment()) == [p0, p1])
        let initial = try consumer.collect(until: { $0.count >= 20 })
        #expect(initial.count == 20)
        #expect(try consumer.position([p0, p1]).map(\.offset) == [KafkaOffset(10), KafkaOffset(10)])

        // Paused: new messages of p1 are not handed out, p0's are.
        try consumer.pause([p1])
        _ = try TestMessages.produce(20..<25, to: topic, partition: 0)
        _ = try TestMessages.produce(25..<30, to: topic, partition: 1)
        let whilePaused = try consumer.collect(timeout: .seconds(2), until: { _ in false })
        #expect(whilePaused.map(\.text) == (20..<25).map { "v\($0)" })

        try consumer.resume([p1])
        let afterResume = try consumer.collect(until: { $0.count >= 5 })
        #expect(afterResume.map(\.text) == (25..<30).map { "v\($0)" })
        #expect(afterResume.map(\.offset) == Array(10..<15))

        // Seek rewinds p0 to offset 12: the next messages are 12…14 again.
        try consumer.seek([KafkaTopicPartitionOffset(p0, offset: KafkaOffset(12))])
        let replayed = try consumer.collect(until: { $0.count >= 3 })
        #expect(replayed.map(\.offset) == [12, 13, 14])
        #expect(replayed.allSatisfy { $0.partition == 0 })
        #expect(try consumer.position([p0]).first?.offset == KafkaOffset(15))
        try consumer.close()
    }

    @Test func consumerWithoutAGroupIDIsRejected() throws {
        let error = #expect(throws: KafkaError.self) {
            try KafkaConsumer(configuration: KafkaTestEnvironment.configuration(), logger: KafkaTestEnvironment.logger)
        }
        #expect(error?.code == .invalidArgument)
    }

    @Test func borrowedViewsExposeKeyValueAndHeadersWithoutCopying() throws {
        let topic = try KafkaTestEnvironment.createTopic("view", partitions: 1)
        _ = try TestMessages.produce(0..<3, to: topic)
        let consumer = try KafkaConsumer(
            configuration: KafkaTestEnvironment.configuration(groupID: KafkaTestEnvironment.uniqueName("view")),
            logger: KafkaTestEnvironment.logger)
        try consumer.assign([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: .beginning)])
        var seen: [String] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while seen.count < 3 && ContinuousClock.now < deadline {
            try consumer.poll(timeout: .milliseconds(100)) { view in
                let value = String(decoding: view.value!, as: UTF8.self)
                let seq = view.header(named: "seq").flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) }
                #expect(view.key.map { Array($0) } == TestMessages.key(Int(view.offset)))
                #expect(seq == String(view.offset))
                #expect(view.headerCount == 1)
                #expect(view.header(named: "absent") == nil)
                seen.append(value)
            }
        }
        #expect(seen == ["v0", "v1", "v2"])
        try consumer.close()
    }
}
