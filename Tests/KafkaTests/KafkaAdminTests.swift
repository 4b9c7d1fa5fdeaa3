import Kafka
import Testing

@Suite("KafkaAdmin against the local broker", .serialized, .timeLimit(.minutes(2)))
struct KafkaAdminTests {
    @Test func createdTopicIsDescribedListedAndDeleted() throws {
        let admin = try KafkaAdmin(configuration: KafkaTestEnvironment.configuration(), logger: KafkaTestEnvironment.logger)
        let name = KafkaTestEnvironment.uniqueName("admin")
        try admin.createTopic(name, partitions: 3, configs: ["cleanup.policy": "compact"])

        let description = try admin.describeTopic(name)
        #expect(description.name == name)
        #expect(description.partitionCount == 3)
        #expect(description.partitions.map(\.id) == [0, 1, 2])
        #expect(try admin.listTopics().contains(name))

        try admin.deleteTopics([name])
        #expect(try !admin.listTopics().contains(name))
    }

    @Test func creatingAnExistingTopicFailsUnlessIgnored() throws {
        let admin = try KafkaAdmin(configuration: KafkaTestEnvironment.configuration(), logger: KafkaTestEnvironment.logger)
        let name = KafkaTestEnvironment.uniqueName("admin-twice")
        try admin.createTopic(name, partitions: 2)
        let error = #expect(throws: KafkaError.self) { try admin.createTopic(name, partitions: 2) }
        #expect(error?.code == .topicAlreadyExists)
        try admin.createTopic(name, partitions: 2, ignoreExisting: true)
        #expect(try admin.describeTopic(name).partitionCount == 2)
    }

    @Test func describingAMissingTopicThrowsUnknownTopic() throws {
        let admin = try KafkaAdmin(configuration: KafkaTestEnvironment.configuration(), logger: KafkaTestEnvironment.logger)
        let name = KafkaTestEnvironment.uniqueName("never-created")
        let error = #expect(throws: KafkaError.self) { try admin.describeTopic(name) }
        #expect(error?.code == .unknownTopicOrPartition)
        #expect(try !admin.listTopics().contains(name), "describe must not auto-create the topic")
    }
}
