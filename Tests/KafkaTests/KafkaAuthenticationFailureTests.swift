@testable import Kafka
import Testing

/// How an authentication failure is recorded, explained and kept free of secrets (the client context's part; the
/// end-to-end behaviour against a broker is in WorkerTests).
@Suite("Kafka authentication failures")
struct KafkaAuthenticationFailureTests {
    static let secret = "hunter2-Zq9x"

    @Test func securitySummaryShowsProtocolAndMechanismWithLibrdkafkasDefaults() {
        #expect(RdKafkaClient.securitySummary([:]) == "security.protocol=plaintext")
        #expect(RdKafkaClient.securitySummary(["security.protocol": "SSL", "sasl.mechanism": "PLAIN"]) == "security.protocol=SSL")
        #expect(RdKafkaClient.securitySummary(["security.protocol": "SASL_SSL"]) == "security.protocol=SASL_SSL, sasl.mechanism=GSSAPI")
        #expect(RdKafkaClient.securitySummary(["security.protocol": "sasl_plaintext", "sasl.mechanisms": "SCRAM-SHA-256", "sasl.password": Self.secret])
            == "security.protocol=sasl_plaintext, sasl.mechanism=SCRAM-SHA-256")
    }

    @Test func anAuthenticationFailureExplainsTimeoutsUntilABrokerAnswers() {
        let context = RdKafkaContext(logger: KafkaTestEnvironment.quietLogger)
        context.securitySummary = "security.protocol=SASL_SSL, sasl.mechanism=PLAIN"
        let timeout = KafkaError(code: .timedOut, message: "Failed while waiting for controller")
        #expect(context.explained(timeout) == timeout)
        let before = context.authenticationFailureCount
        let reason = "sasl_ssl://b1:9093/1: SASL authentication error: Authentication failed (after 5ms in state AUTH_REQ)"
        #expect(context.recordAuthenticationFailure(code: .authentication, reason: reason))
        #expect(!context.recordAuthenticationFailure(code: .authentication, reason: reason.replacing("5ms", with: "7ms")),
                "the same failure on the next reconnect is not logged again as an error")
        #expect(context.authenticationError(since: before) != nil && context.authenticationError(since: context.authenticationFailureCount) == nil)
        let explained = context.explained(timeout)
        #expect(explained.code == .authentication && explained.isAuthenticationFailure)
        #expect(explained.message == "authentication failed (security.protocol=SASL_SSL, sasl.mechanism=PLAIN): " + reason.replacing("5ms", with: "7ms"))
        let other = KafkaError(code: .unknownTopicOrPartition, message: "no such topic")
        #expect(context.explained(other) == other, "only what an authentication failure looks like is replaced")
        context.brokerAnswered()
        #expect(context.explained(timeout) == timeout)
        #expect(RdKafkaContext.broker(inReason: reason) == "sasl_ssl://b1:9093/1")
        #expect(RdKafkaContext.broker(inReason: "SASL: something") == nil)
    }

    @Test func credentialsButNotSettingsAreScrubbedFromLibrdkafkaMessages() {
        for key in ["sasl.password", "ssl.key.password", "ssl.key.pem", "sasl.oauthbearer.client.secret", "sasl.username",
                    "sasl.jaas.config", "sasl.oauthbearer.config", "SASL.PASSWORD"] {
            #expect(RdKafkaClient.isCredential(key), "\(key)")
        }
        for key in ["sasl.mechanism", "sasl.mechanisms", "sasl.oauthbearer.method", "security.protocol", "ssl.ca.location", "client.id"] {
            #expect(!RdKafkaClient.isCredential(key), "\(key)")
        }
    }

    @Test func secretValuesAreRedactedFromLibrdkafkaMessages() {
        let context = RdKafkaContext(logger: KafkaTestEnvironment.quietLogger)
        context.secretValues = [Self.secret]
        #expect(context.redact("login as alice with \(Self.secret) failed") == "login as alice with <redacted> failed")
    }
}
