/// A librdkafka property source that cannot be used: a malformed line of a `--kafka-config` file, an environment
/// variable that names no property, a `--kafka-property` without `=`, an unknown property or an invalid value.
///
/// ``description`` starts with where the problem is (`FILE:LINE:`, the variable's name or `--kafka-property`) and
/// never contains a property value: a value may be a secret, and errors end up on terminals and in logs.
public struct KafkaPropertiesError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the offending property came from.
    public var source: KafkaPropertySource
    /// What is wrong, without any property value.
    public var message: String

    /// Creates an error for `source`.
    public init(_ source: KafkaPropertySource, _ message: String) {
        self.source = source
        self.message = message
    }

    /// `SOURCE: message`, e.g. `client.properties:7: invalid \uXXXX escape`.
    public var description: String { "\(source): \(message)" }
}
