@testable import Kafka
import Testing

@Suite("KafkaConfiguration")
struct KafkaConfigurationTests {
    @Test func descriptionRedactsSecretsButShowsOrdinaryProperties() {
        let configuration = KafkaConfiguration(
            bootstrapServers: ["b1:9092"],
            properties: [
                "sasl.password": "hunter2", "sasl.username": "alice", "ssl.key.password": "pem-pass",
                "ssl.key.pem": "-----BEGIN", "my.client.secret": "s3cr3t", "statistics.interval.ms": "1000",
            ])
        let text = configuration.description
        for secret in ["hunter2", "alice", "pem-pass", "-----BEGIN", "s3cr3t"] {
            #expect(!text.contains(secret), "\(secret) leaked into \(text)")
        }
        #expect(text.contains("statistics.interval.ms=1000"))
        #expect(text.contains("sasl.password=<redacted>"))
    }

    @Test func consumerDefaultsAreManualOffsetsAndRawPropertiesWinLast() {
        var configuration = KafkaConfiguration(bootstrapServers: ["a:1", "b:2"], groupID: "g")
        configuration.properties = ["auto.offset.reset": "latest"]
        let properties = configuration.librdkafkaProperties(for: .consumer)
        func last(_ key: String) -> String? { properties.last { $0.key == key }?.value }
        #expect(last("bootstrap.servers") == "a:1,b:2")
        #expect(last("enable.auto.commit") == "false")
        #expect(last("enable.auto.offset.store") == "false")
        #expect(last("group.id") == "g")
        #expect(last("auto.offset.reset") == "latest")
    }

    @Test func consumerFetchQueueBackoffIsShortWhereTheRuntimeHasItAndOverridable() {
        var configuration = KafkaConfiguration(bootstrapServers: ["a:1"], groupID: "g")
        let hasProperty = KafkaRuntime.runtimeVersion >= KafkaRuntime.minimumVersionForFetchQueueBackoff
        func last(_ role: KafkaConfiguration.Role, _ key: String) -> String? {
            configuration.librdkafkaProperties(for: role).last { $0.key == key }?.value
        }
        #expect(last(.consumer, "fetch.queue.backoff.ms") == (hasProperty ? "10" : nil))
        #expect(last(.producer, "fetch.queue.backoff.ms") == nil)
        configuration.properties = ["fetch.queue.backoff.ms": "250"]
        #expect(last(.consumer, "fetch.queue.backoff.ms") == "250")
    }

    @Test func producerDefaultsAreIdempotentWithAcksAll() {
        let configuration = KafkaConfiguration(bootstrapServers: ["a:1"], linger: .milliseconds(20))
        let properties = Dictionary(configuration.librdkafkaProperties(for: .producer).map { ($0.key, $0.value) }) { $1 }
        #expect(properties["enable.idempotence"] == "true")
        #expect(properties["acks"] == "all")
        #expect(properties["linger.ms"] == "20")
    }

    @Test func brokerListIsSplitAndTrimmed() {
        #expect(KafkaConfiguration(brokers: " 127.0.0.1:1 , 127.0.0.1:2,").bootstrapServers == ["127.0.0.1:1", "127.0.0.1:2"])
    }

    @Test func invalidPropertyIsRejectedWithoutEchoingASecretValue() {
        let configuration = KafkaConfiguration(bootstrapServers: ["127.0.0.1:1"], properties: ["sasl.oauthbearer.method": "bogus-s3cr3t"])
        let error = #expect(throws: KafkaError.self) { try KafkaProducer(configuration: configuration, logger: KafkaTestEnvironment.logger) }
        #expect(error?.code == .invalidArgument)
        #expect(error.map { !$0.message.contains("s3cr3t") } ?? false)
    }
}
