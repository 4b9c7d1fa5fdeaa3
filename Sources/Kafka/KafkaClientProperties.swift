import CRdKafka

/// The raw librdkafka properties of a `feedloop` command, merged from its three sources, each later one winning
/// property by property:
/// 1. a `--kafka-config FILE` (Java `client.properties` syntax, see ``KafkaPropertiesFile``),
/// 2. environment variables `FEEDLOOP_KAFKA_<KEY>`: the rest of the name lowercased, `_` turned into `.`
///    (`FEEDLOOP_KAFKA_SASL_PASSWORD` → `sasl.password`); a property whose name holds `_` itself (`log_level`)
///    cannot be spelled so and must come from 1 or 3,
/// 3. `--kafka-property KEY=VALUE` arguments.
///
/// Secrets belong in 1 or 2: command-line arguments are visible to every local user in `/proc/PID/cmdline`.
/// Invariants: every property ``properties`` holds comes from the source of the highest rank that set it (the last
/// one within a source); ``validate()`` passing means librdkafka knows every name and accepts every value. No
/// method puts a value in an error or a warning.
public struct KafkaClientProperties: Sendable {
    /// The environment variable prefix of properties.
    public static let environmentPrefix = "FEEDLOOP_KAFKA_"

    /// Winning property by name.
    public private(set) var properties: [String: KafkaProperty] = [:]

    /// An empty set.
    public init() {}

    /// Adds `property` unless a source of higher rank already set its key; within one rank the later one wins.
    public mutating func add(_ property: KafkaProperty) {
        if let existing = properties[property.key], existing.source.rank > property.source.rank { return }
        properties[property.key] = property
    }

    /// Adds every property of `list` in order.
    public mutating func add(_ list: [KafkaProperty]) {
        for property in list { add(property) }
    }

    /// Name → value, for ``KafkaConfiguration/properties``.
    public var values: [String: String] { properties.mapValues(\.value) }

    /// The names set by each kind of source (`file`, `environment`, `command line`), sorted, for a log line that
    /// shows where the settings came from without showing them.
    public var namesBySource: [(source: String, names: [String])] {
        let kinds: [(String, (KafkaPropertySource) -> Bool)] = [
            ("file", { if case .file = $0 { true } else { false } }),
            ("environment", { if case .environment = $0 { true } else { false } }),
            ("command line", { if case .commandLine = $0 { true } else { false } }),
        ]
        return kinds.compactMap { kind, matches in
            let names = properties.values.filter { matches($0.source) }.map(\.key).sorted()
            return names.isEmpty ? nil : (kind, names)
        }
    }

    // MARK: Sources

    /// The `FEEDLOOP_KAFKA_*` variables of `environment` as properties. Throws when a name has nothing after the
    /// prefix or two variables name the same property (e.g. `…_SASL_PASSWORD` and `…_sasl_password`).
    public static func fromEnvironment(_ environment: [String: String]) throws(KafkaPropertiesError) -> [KafkaProperty] {
        var result: [String: KafkaProperty] = [:]
        for (variable, value) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix(environmentPrefix) {
            let source = KafkaPropertySource.environment(variable: variable)
            let name = variable.dropFirst(environmentPrefix.count)
            guard !name.isEmpty else { throw KafkaPropertiesError(source, "no property name after \(environmentPrefix)") }
            let key = String(name.lowercased().map { $0 == "_" ? "." : $0 })
            if let other = result[key] {
                throw KafkaPropertiesError(source, "sets \(key) like \(other.source) does; keep one of them")
            }
            result[key] = KafkaProperty(key: key, value: value, source: source)
        }
        return result.values.sorted { $0.key < $1.key }
    }

    /// `--kafka-property KEY=VALUE` arguments as properties (split at the first `=`).
    public static func fromCommandLine(_ arguments: [String]) throws(KafkaPropertiesError) -> [KafkaProperty] {
        var result: [KafkaProperty] = []
        for (index, argument) in arguments.enumerated() {
            guard let eq = argument.firstIndex(of: "="), eq > argument.startIndex else {
                // The argument itself is not shown: it may be a secret given without its name.
                throw KafkaPropertiesError(.commandLine, "argument \(index + 1) is not KEY=VALUE")
            }
            result.append(KafkaProperty(key: String(argument[..<eq]), value: String(argument[argument.index(after: eq)...]), source: .commandLine))
        }
        return result
    }

    /// The merged and validated properties of a command: `configFile` (if any) < `environment`'s `FEEDLOOP_KAFKA_*`
    /// variables < `commandLine` (`KEY=VALUE` strings). `warnings` holds the file permission warning, if any.
    public static func resolve(
        configFile: String?, environment: [String: String], commandLine: [String]
    ) throws(KafkaPropertiesError) -> (properties: KafkaClientProperties, warnings: [String]) {
        var merged = KafkaClientProperties()
        var warnings: [String] = []
        if let configFile {
            let (list, warning) = try KafkaPropertiesFile.load(path: configFile)
            merged.add(list)
            if let warning { warnings.append(warning) }
        }
        merged.add(try fromEnvironment(environment))
        merged.add(try fromCommandLine(commandLine))
        try merged.validate()
        return (merged, warnings)
    }

    // MARK: Validation

    /// Sets every property on a scratch librdkafka configuration, so an unknown name or an invalid value is reported
    /// with its source (`FILE:LINE`, variable, argument) before any client exists. `plugin.library.paths` is left to
    /// client creation: setting it loads the plugins.
    public func validate() throws(KafkaPropertiesError) {
        guard let conf = rd_kafka_conf_new() else { return }
        defer { rd_kafka_conf_destroy(conf) }
        for property in properties.values.sorted(by: { $0.key < $1.key }) where property.key != "plugin.library.paths" {
            var errstr = [CChar](repeating: 0, count: 512)
            switch rd_kafka_conf_set(conf, property.key, property.value, &errstr, errstr.count) {
            case RD_KAFKA_CONF_OK:
                continue
            case RD_KAFKA_CONF_UNKNOWN:
                var message = "\(property.key) is not a librdkafka property"
                if case .environment = property.source {
                    message += " (a name that contains '_' cannot be given as an environment variable: use --kafka-config or --kafka-property)"
                }
                throw KafkaPropertiesError(property.source, message)
            default:
                // librdkafka's message may quote the value.
                let detail = KafkaConfiguration.isSecret(property.key) ? "invalid value" : errstr.nulTerminatedString
                throw KafkaPropertiesError(property.source, "\(property.key): \(detail)")
            }
        }
    }
}
