import Kafka

/// Which librdkafka properties a spec may set. Specs arrive over HTTP, so the
/// default is no: only consumer tuning and SASL credentials are allowed.
/// Anything that loads code (`plugin.library.paths`), runs commands
/// (`sasl.kerberos.kinit.cmd`), reads files (`ssl.*.location`), redirects the
/// connection (`bootstrap.servers`) or weakens delivery (`enable.auto.commit`)
/// belongs to the operator's server flags, not to a spec.
public enum ClientPropertyPolicy {
    public static let allowed: Set<String> = [
        "auto.offset.reset",
        "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms",
        "partition.assignment.strategy", "group.instance.id",
        "fetch.min.bytes", "fetch.wait.max.ms", "fetch.max.bytes", "max.partition.fetch.bytes",
        "fetch.message.max.bytes", "fetch.error.backoff.ms", "receive.message.max.bytes",
        "queued.min.messages", "queued.max.messages.kbytes",
        "isolation.level", "check.crcs", "client.rack", "allow.auto.create.topics",
        "topic.metadata.refresh.interval.ms", "metadata.max.age.ms",
        "socket.timeout.ms", "socket.keepalive.enable", "socket.connection.setup.timeout.ms",
        "reconnect.backoff.ms", "reconnect.backoff.max.ms", "retry.backoff.ms", "connections.max.idle.ms",
        "coordinator.query.interval.ms",
        "security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password",
    ]

    /// Set by consumerd itself; each maps to the spec field that controls it, if any.
    public static let managed: [String: String?] = [
        "bootstrap.servers": nil, "metadata.broker.list": nil,
        "group.id": "group_id", "client.id": nil,
        "enable.auto.commit": nil, "enable.auto.offset.store": nil, "enable.partition.eof": nil,
    ]

    public static let maxProperties = 64
    public static let maxValueLength = 1024

    /// Why a property is refused, or `nil` if the name is acceptable.
    public static func refusal(for name: String) -> String? {
        if let field = managed[name] {
            if let field { return "'\(name)' is set by consumerd; use the \(field) field" }
            return "'\(name)' is set by consumerd and cannot be overridden in a spec"
        }
        if !allowed.contains(name) {
            return "'\(name)' is not an allowed consumer property (allowed: \(allowed.sorted().joined(separator: ", ")))"
        }
        return nil
    }

    /// The properties with secret values masked.
    public static func redact(_ properties: [String: String]) -> [String: String] {
        KafkaConfig(properties).redacted
    }
}
