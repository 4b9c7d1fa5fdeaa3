import Kafka
import Testing

/// Two members of one group: the second join moves partitions away from the first, whose revoke
/// handler runs (and commits) before the partitions are handed over.
@Suite("Consumer-group rebalancing against the local broker", .serialized, .timeLimit(.minutes(3)))
struct KafkaRebalanceTests {
    /// What one member saw, in order.
    final class Member {
        let consumer: KafkaConsumer
        var events: [(sequence: Int, event: KafkaRebalanceEvent)] = []
        var received: [KafkaMessage] = []
        init(_ consumer: KafkaConsumer) { self.consumer = consumer }
    }

    /// Runs the scenario with `strategy` and returns both members after the rebalance settled.
    func runTwoMemberScenario(_ strategy: KafkaConfiguration.AssignmentStrategy, purpose: String) throws -> (first: Member, second: Member, all: Set<KafkaTopicPartition>, topic: String) {
        let topic = try KafkaTestEnvironment.createTopic(purpose, partitions: 4)
        let group = KafkaTestEnvironment.uniqueName(purpose)
        let count = 40
        let reports = try TestMessages.produce(0..<count, to: topic)
        try #require(reports.count == count)
        let all = Set((0..<Int32(4)).map { KafkaTopicPartition(topic: topic, partition: $0) })

        func makeMember() throws -> Member {
            var configuration = try KafkaTestEnvironment.configuration(groupID: group)
            configuration.assignmentStrategy = strategy
            let member = Member(try KafkaConsumer(configuration: configuration, logger: KafkaTestEnvironment.logger))
            try member.consumer.subscribe(topics: [topic])
            return member
        }
        var sequence = 0
        /// Records the event; on revoke, commits what this member processed (the checkpoint hook).
        func poll(_ member: Member) throws {
            member.received += try member.consumer.poll(timeout: .milliseconds(100), onRebalance: { event in
                sequence += 1
                member.events.append((sequence, event))
                if event.kind == .revoked {
                    let revoked = Set(event.partitions)
                    var next: [KafkaTopicPartition: Int64] = [:]
                    for message in member.received where revoked.contains(message.topicPartition) {
                        next[message.topicPartition] = max(next[message.topicPartition] ?? 0, message.offset + 1)
                    }
                    try member.consumer.commit(offsets: next.map { KafkaTopicPartitionOffset($0.key, offset: KafkaOffset($0.value)) })
                }
                return .proceed
            })
        }

        let first = try makeMember()
        let deadline = ContinuousClock.now + .seconds(60)
        while first.received.count < count && ContinuousClock.now < deadline { try poll(first) }
        try #require(first.received.count == count, "first member read \(first.received.count) of \(count)")

        let second = try makeMember()
        func settled() throws -> Bool {
            let a = Set(try first.consumer.assignment())
            let b = Set(try second.consumer.assignment())
            return !a.isEmpty && !b.isEmpty && a.isDisjoint(with: b) && a.union(b) == all
        }
        while try !settled() && ContinuousClock.now < deadline {
            try poll(first)
            try poll(second)
        }
        // A little more polling shows any message re-delivered to the second member.
        for _ in 0..<5 { try poll(second) }
        return (first, second, all, topic)
    }

    @Test func eagerRebalanceRevokesEverythingThenSplitsThePartitions() throws {
        let (first, second, all, _) = try runTwoMemberScenario(.range, purpose: "eager")
        let a = Set(try first.consumer.assignment())
        let b = Set(try second.consumer.assignment())
        #expect(!a.isEmpty && !b.isEmpty && a.isDisjoint(with: b) && a.union(b) == all, "first \(a), second \(b)")
        #expect(first.consumer.rebalanceProtocol == .eager)

        // First member: assigned everything, revoked everything (eager), assigned its share.
        let kinds = first.events.map(\.event.kind)
        #expect(kinds.starts(with: [.assigned, .revoked, .assigned]), "\(first.events.map(\.event))")
        let revoke = try #require(first.events.first { $0.event.kind == .revoked })
        #expect(Set(revoke.event.partitions) == all)
        #expect(!revoke.event.isAssignmentLost)
        let secondAssign = try #require(second.events.first { $0.event.kind == .assigned })
        #expect(revoke.sequence < secondAssign.sequence, "the revoke must be handled before the partitions move")

        // The commit made inside the revoke handler is where the second member started: no re-delivery.
        #expect(second.received.isEmpty, "re-delivered: \(second.received.map(\.text))")
        let committed = try second.consumer.committed(Array(all))
        let expected = Dictionary(grouping: first.received, by: \.topicPartition).mapValues { ($0.map(\.offset).max() ?? -1) + 1 }
        #expect(committed.allSatisfy { $0.offset.value == expected[$0.topicPartition] ?? 0 }, "\(committed)")

        try second.consumer.close()
        try first.consumer.close()
    }

    @Test func cooperativeRebalanceRevokesOnlyThePartitionsThatMove() throws {
        let (first, second, all, _) = try runTwoMemberScenario(.cooperativeSticky, purpose: "coop")
        let a = Set(try first.consumer.assignment())
        let b = Set(try second.consumer.assignment())
        #expect(!a.isEmpty && !b.isEmpty && a.isDisjoint(with: b) && a.union(b) == all, "first \(a), second \(b)")
        #expect(first.consumer.rebalanceProtocol == .cooperative)

        let revokes = first.events.filter { $0.event.kind == .revoked }
        let revoked = Set(revokes.flatMap(\.event.partitions))
        #expect(!revokes.isEmpty)
        #expect(revoked == b, "only what moved to the second member is revoked")
        #expect(revoked.isDisjoint(with: a), "kept partitions are never revoked")
        #expect(revokes.allSatisfy { $0.event.rebalanceProtocol == .cooperative })
        let secondAssign = try #require(second.events.first { $0.event.kind == .assigned && !$0.event.partitions.isEmpty })
        #expect(revokes[0].sequence < secondAssign.sequence)
        #expect(second.received.isEmpty, "re-delivered: \(second.received.map(\.text))")

        // Closing the second member hands its partitions back to the first, incrementally.
        var closeRevoked: [KafkaTopicPartition] = []
        try second.consumer.close(onRebalance: { event in
            if event.kind == .revoked { closeRevoked += event.partitions }
            return .proceed
        })
        #expect(Set(closeRevoked) == b)
        try first.consumer.close()
    }
}
