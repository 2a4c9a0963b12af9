import CRdKafka

/// librdkafka client properties (`bootstrap.servers`, `group.id`, ...) as a value type.
///
/// Values are strings because that is what librdkafka parses; ``validate(name:value:)``
/// asks librdkafka itself whether a property and value are acceptable.
public struct KafkaConfig: Sendable, Equatable {
    public var properties: [String: String]

    public init(_ properties: [String: String] = [:]) {
        self.properties = properties
    }

    public subscript(name: String) -> String? {
        get { properties[name] }
        set { properties[name] = newValue }
    }

    /// Returns a copy with `other`'s properties layered on top.
    public func merging(_ other: [String: String]) -> KafkaConfig {
        KafkaConfig(properties.merging(other) { _, new in new })
    }

    /// Checks one property with librdkafka's own parser: unknown names and
    /// malformed values fail here instead of when a client is created.
    public static func validate(name: String, value: String) throws(KafkaError) {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError.invalidArgument("rd_kafka_conf_new failed")
        }
        defer { rd_kafka_conf_destroy(conf) }
        try set(conf, name, value)
    }

    /// Checks the whole configuration the way starting a consumer would:
    /// librdkafka checks some properties only against each other or when a
    /// client is created (`max.poll.interval.ms` below `session.timeout.ms`,
    /// a SASL mechanism it was built without). The client created here
    /// has no brokers, so it connects nowhere, and is destroyed at once.
    public func checkAsConsumer() throws(KafkaError) {
        var offline = self
        offline["bootstrap.servers"] = nil
        offline["metadata.broker.list"] = nil
        if offline["group.id"] == nil { offline["group.id"] = "consumerd-configuration-check" }
        let conf = try offline.makeConf()
        var reason = ErrorText()
        guard let handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &reason.buffer, reason.buffer.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError.invalidArgument(reason.string)
        }
        rd_kafka_destroy_flags(handle, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
    }

    /// Properties whose values must never be shown or logged (librdkafka marks
    /// these as sensitive).
    public static func isSensitive(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return lowered.contains("password") || lowered.contains("secret")
            || lowered == "ssl.key.pem" || lowered == "ssl_key" || lowered == "sasl.oauthbearer.config"
    }

    /// The properties with sensitive values replaced, for logs and API responses.
    public var redacted: [String: String] {
        properties.reduce(into: [:]) { result, entry in
            result[entry.key] = Self.isSensitive(entry.key) ? Self.redactedValue : entry.value
        }
    }

    public static let redactedValue = "********"

    /// Builds an `rd_kafka_conf_t`; the caller owns it until `rd_kafka_new` succeeds.
    func makeConf() throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError.invalidArgument("rd_kafka_conf_new failed")
        }
        do {
            // Sorted so that errors are deterministic.
            for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
                try Self.set(conf, name, value)
            }
        } catch {
            rd_kafka_conf_destroy(conf)
            throw error
        }
        return conf
    }

    private static func set(_ conf: OpaquePointer, _ name: String, _ value: String) throws(KafkaError) {
        var reason = ErrorText()
        guard rd_kafka_conf_set(conf, name, value, &reason.buffer, reason.buffer.count) == RD_KAFKA_CONF_OK else {
            throw KafkaError.invalidArgument(reason.string.isEmpty ? "invalid property \(name)" : reason.string)
        }
    }
}

/// Validation of regex subscriptions (`^market\..*`) before they reach librdkafka.
public enum TopicPattern {
    /// librdkafka treats a subscription as a pattern only when it starts with `^`
    /// and compiles it as a POSIX extended regex.
    public static func validate(_ pattern: String) throws(KafkaError) {
        guard pattern.hasPrefix("^") else {
            throw KafkaError.invalidArgument("a topic pattern must start with '^'")
        }
        var reason = ErrorText()
        if crd_check_regex(pattern, &reason.buffer, reason.buffer.count) != 0 {
            throw KafkaError.invalidArgument("invalid regular expression: \(reason.string)")
        }
    }

    /// Kafka's legal topic names: 1-249 characters of `[A-Za-z0-9._-]`, not `.` or `..`.
    public static func isValidTopicName(_ name: String) -> Bool {
        guard (1...249).contains(name.utf8.count), name != ".", name != ".." else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }
}

/// The librdkafka this process is linked against.
public enum KafkaVersion {
    public static var string: String { String(cString: rd_kafka_version_str()) }
}
