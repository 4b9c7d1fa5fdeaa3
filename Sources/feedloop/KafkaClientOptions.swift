import ArgumentParser
import Foundation
import Kafka

/// The librdkafka property options of every command that talks to Kafka (`worker`, `produce`, `topics`, `tail`,
/// `replay --topic`): `--kafka-config FILE` < `FEEDLOOP_KAFKA_*` environment variables < `--kafka-property KEY=VALUE`,
/// merged by ``KafkaClientProperties/resolve(configFile:environment:commandLine:)``.
struct KafkaClientOptions: ParsableArguments {
    @Option(
        name: .customLong("kafka-config"),
        help: ArgumentHelp(
            "librdkafka properties file (Java client.properties syntax: key=value, # comments). Keep secrets here or in FEEDLOOP_KAFKA_* variables, not on the command line.",
            valueName: "file"))
    var kafkaConfig: String?

    @Option(
        name: .customLong("kafka-property"), parsing: .singleValue,
        help: ArgumentHelp(
            "librdkafka property KEY=VALUE (repeatable); wins over FEEDLOOP_KAFKA_<KEY> (e.g. FEEDLOOP_KAFKA_SASL_PASSWORD for sasl.password) and over --kafka-config. Visible in the process list: no secrets here.",
            valueName: "key=value"))
    var kafkaProperties: [String] = []

    /// The merged properties; `warn` receives the file permission warning, `inform` one line naming which properties
    /// came from where (names only, never values). Throws ``KafkaPropertiesError`` (`FILE:LINE: …`).
    func resolve(warn: (String) -> Void, inform: ((String) -> Void)? = nil) throws -> [String: String] {
        let (properties, warnings) = try KafkaClientProperties.resolve(
            configFile: kafkaConfig, environment: ProcessInfo.processInfo.environment, commandLine: kafkaProperties)
        warnings.forEach(warn)
        let sources = properties.namesBySource
        if let inform, !sources.isEmpty {
            inform("librdkafka properties from " + sources.map { "\($0.source): \($0.names.joined(separator: ", "))" }.joined(separator: "; "))
        }
        return properties.values
    }
}
