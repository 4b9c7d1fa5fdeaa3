import Foundation
import Kafka
import Testing

/// The merge of `--kafka-config` < `FEEDLOOP_KAFKA_*` < `--kafka-property`, and its validation.
@Suite("KafkaClientProperties")
struct KafkaClientPropertiesTests {
    static let secret = "hunter2-Zq9x"

    @Test func environmentVariablesMapToLowercaseDottedNamesAndOthersAreIgnored() throws {
        let properties = try KafkaClientProperties.fromEnvironment([
            "FEEDLOOP_KAFKA_SASL_PASSWORD": Self.secret,
            "FEEDLOOP_KAFKA_security_protocol": "SASL_SSL",
            "FEEDLOOP_KAFKA_SSL_CA_LOCATION": "/etc/ca.pem",
            "FEEDLOOP_BROKERS": "b:9092", "KAFKA_SASL_PASSWORD": "x", "PATH": "/bin", "feedloop_kafka_acks": "1",
        ])
        #expect(properties == [
            KafkaProperty(key: "sasl.password", value: Self.secret, source: .environment(variable: "FEEDLOOP_KAFKA_SASL_PASSWORD")),
            KafkaProperty(key: "security.protocol", value: "SASL_SSL", source: .environment(variable: "FEEDLOOP_KAFKA_security_protocol")),
            KafkaProperty(key: "ssl.ca.location", value: "/etc/ca.pem", source: .environment(variable: "FEEDLOOP_KAFKA_SSL_CA_LOCATION")),
        ])
    }

    @Test func environmentNamesThatNameNothingOrTheSamePropertyTwiceAreErrors() {
        let empty = #expect(throws: KafkaPropertiesError.self) { try KafkaClientProperties.fromEnvironment(["FEEDLOOP_KAFKA_": Self.secret]) }
        #expect(empty?.description == "FEEDLOOP_KAFKA_: no property name after FEEDLOOP_KAFKA_")
        let twice = #expect(throws: KafkaPropertiesError.self) {
            try KafkaClientProperties.fromEnvironment(["FEEDLOOP_KAFKA_SASL_PASSWORD": "a", "FEEDLOOP_KAFKA_sasl_password": Self.secret])
        }
        #expect(twice?.description.contains("sasl.password") == true)
        #expect(twice?.description.contains(Self.secret) == false)
    }

    @Test func commandLineArgumentsSplitAtTheFirstEqualsAndAMalformedOneIsNotEchoed() throws {
        let properties = try KafkaClientProperties.fromCommandLine(["acks=all", "sasl.jaas.config=a=b c=d", "client.id="])
        #expect(properties.map(\.key) == ["acks", "sasl.jaas.config", "client.id"])
        #expect(properties.map(\.value) == ["all", "a=b c=d", ""])
        for bad in [Self.secret, "=\(Self.secret)"] {
            let error = #expect(throws: KafkaPropertiesError.self) { try KafkaClientProperties.fromCommandLine(["acks=1", bad]) }
            #expect(error?.description == "--kafka-property: argument 2 is not KEY=VALUE")
        }
    }

    @Test func fileLosesToEnvironmentWhichLosesToCommandLinePropertyByProperty() throws {
        let file: [KafkaProperty] = ["a", "b", "c"].enumerated().map {
            KafkaProperty(key: $0.element, value: "file", source: .file(path: "f", line: $0.offset + 1))
        }
        let environment: [KafkaProperty] = ["b", "c"].map {
            KafkaProperty(key: $0, value: "environment", source: .environment(variable: "FEEDLOOP_KAFKA_\($0.uppercased())"))
        }
        let commandLine = [KafkaProperty(key: "c", value: "command line", source: .commandLine)]
        // Whatever order the sources are added in.
        for order in [[file, environment, commandLine], [commandLine, environment, file], [environment, commandLine, file]] {
            var merged = KafkaClientProperties()
            for list in order { merged.add(list) }
            #expect(merged.values == ["a": "file", "b": "environment", "c": "command line"], "order \(order.map { $0.first!.source })")
            #expect(merged.properties["a"]?.source == .file(path: "f", line: 1))
            #expect(merged.properties["b"]?.source == .environment(variable: "FEEDLOOP_KAFKA_B"))
            #expect(merged.properties["c"]?.source == .commandLine)
            #expect(merged.namesBySource.map(\.source) == ["file", "environment", "command line"])
            #expect(merged.namesBySource.map(\.names) == [["a"], ["b"], ["c"]])
        }
        // Within one source the later entry wins (a key repeated in the file).
        var merged = KafkaClientProperties()
        merged.add([KafkaProperty(key: "a", value: "1", source: .file(path: "f", line: 1)), KafkaProperty(key: "a", value: "2", source: .file(path: "f", line: 9))])
        #expect(merged.properties["a"] == KafkaProperty(key: "a", value: "2", source: .file(path: "f", line: 9)))
    }

    @Test func resolveReadsTheFileThenTheEnvironmentThenTheArguments() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-resolve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("client.properties").path
        try """
            security.protocol=SASL_SSL
            sasl.mechanism=SCRAM-SHA-512
            sasl.username=alice
            sasl.password=from-the-file
            client.id=from-the-file
            """.write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let (properties, warnings) = try KafkaClientProperties.resolve(
            configFile: path,
            environment: ["FEEDLOOP_KAFKA_SASL_PASSWORD": Self.secret, "FEEDLOOP_KAFKA_CLIENT_ID": "from-the-environment"],
            commandLine: ["client.id=from-the-command-line"])
        #expect(warnings.isEmpty)
        #expect(properties.values == [
            "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice",
            "sasl.password": Self.secret, "client.id": "from-the-command-line",
        ])
        #expect(properties.properties["security.protocol"]?.source == .file(path: path, line: 1))

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let readable = try KafkaClientProperties.resolve(configFile: path, environment: [:], commandLine: [])
        #expect(readable.warnings.count == 1 && readable.warnings[0].contains("0644"))

        let none = try KafkaClientProperties.resolve(configFile: nil, environment: ["HOME": "/root"], commandLine: [])
        #expect(none.properties.values.isEmpty && none.warnings.isEmpty)
    }

    @Test func unknownNamesAreReportedWithTheirSourceAndUnderscoreNamesPointAwayFromTheEnvironment() throws {
        var merged = KafkaClientProperties()
        merged.add(KafkaProperty(key: "sasl.pasword", value: Self.secret, source: .file(path: "client.properties", line: 7)))
        let misspelled = #expect(throws: KafkaPropertiesError.self) { try merged.validate() }
        #expect(misspelled?.description == "client.properties:7: sasl.pasword is not a librdkafka property")

        let fromEnvironment = #expect(throws: KafkaPropertiesError.self) {
            try KafkaClientProperties.resolve(configFile: nil, environment: ["FEEDLOOP_KAFKA_LOG_LEVEL": "7"], commandLine: [])
        }
        let text = try #require(fromEnvironment?.description)
        #expect(text.hasPrefix("FEEDLOOP_KAFKA_LOG_LEVEL: log.level is not a librdkafka property"), "\(text)")
        #expect(text.contains("'_'") && text.contains("--kafka-config"), "\(text)")
        // The same property by its real name is fine from the command line.
        #expect(try KafkaClientProperties.resolve(configFile: nil, environment: [:], commandLine: ["log_level=7"]).properties.values == ["log_level": "7"])
    }

    @Test func anInvalidValueIsReportedWithItsSourceAndASecretOneIsNotQuoted() throws {
        let plain = #expect(throws: KafkaPropertiesError.self) {
            try KafkaClientProperties.resolve(configFile: nil, environment: [:], commandLine: ["acks=sometimes"])
        }
        #expect(plain?.description.hasPrefix("--kafka-property: acks: ") == true, "\(String(describing: plain))")
        #expect(plain?.description.contains("Invalid value") == true, "librdkafka's own explanation: \(String(describing: plain))")

        let secret = #expect(throws: KafkaPropertiesError.self) {
            try KafkaClientProperties.resolve(
                configFile: nil, environment: ["FEEDLOOP_KAFKA_SASL_OAUTHBEARER_METHOD": Self.secret], commandLine: [])
        }
        #expect(secret?.description == "FEEDLOOP_KAFKA_SASL_OAUTHBEARER_METHOD: sasl.oauthbearer.method: invalid value")
    }
}
