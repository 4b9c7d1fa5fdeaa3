import Kafka
import Testing

@Suite("librdkafka runtime")
struct KafkaRuntimeTests {
    @Test func runtimeLibrdkafkaParsesTaggedFields() throws {
        // The wheel's librdkafka must be the one loaded (via LD_LIBRARY_PATH), not Debian's 2.0.2.
        _ = try KafkaTestEnvironment.brokers()
        let version = KafkaRuntime.runtimeVersion
        #expect(version >= KafkaRuntime.minimumVersionForTaggedFields, "loaded librdkafka \(KafkaRuntime.version); run via scripts/broker env")
        #expect(KafkaRuntime.version.hasPrefix("\(version.major).\(version.minor).\(version.patch)"))
    }
}
