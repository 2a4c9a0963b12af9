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
        "sasl.kerberos.principal", "sasl.kerberos.service.name",
    ]

    /// Refused with their own reason, so that a user sees why rather than "not allowed".
    static let forbidden: [String: String] = [
        "debug": "'debug' floods the server's log and can print credentials; operators enable it with --kafka-config",
        "enable.ssl.certificate.verification":
            "turning off TLS certificate verification lets anyone on the path read and forge the stream; operators set it with --kafka-config",
        "sasl.kerberos.kinit.cmd": "'sasl.kerberos.kinit.cmd' is a shell command; operators set it with --kafka-config",
        "plugin.library.paths": "'plugin.library.paths' loads code into the server; operators set it with --kafka-config",
    ]

    /// librdkafka substitutes these into the kinit command line it runs
    /// through a shell, so their values are names and nothing else.
    static let shellSubstituted: Set<String> = ["sasl.kerberos.principal", "sasl.kerberos.service.name"]
    private static let shellSafeScalars = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/@".unicodeScalars)

    /// Set by consumerd itself; each maps to the spec field that controls it, if any.
    public static let managed: [String: String?] = [
        "bootstrap.servers": nil, "metadata.broker.list": nil,
        "group.id": "group_id", "client.id": nil,
        "enable.auto.commit": nil, "enable.auto.offset.store": nil, "enable.partition.eof": nil,
    ]

    /// Properties that size librdkafka's buffers, capped so that one spec
    /// cannot claim gigabytes of prefetch (librdkafka's defaults are inside).
    public static let limits: [String: ClosedRange<Int64>] = [
        "queued.max.messages.kbytes": 1...262_144,
        "queued.min.messages": 1...1_000_000,
        "fetch.max.bytes": 1...268_435_456,
        "max.partition.fetch.bytes": 1...67_108_864,
        "fetch.message.max.bytes": 1...67_108_864,
        "receive.message.max.bytes": 1000...268_436_000,
    ]

    public static let maxProperties = 64
    public static let maxValueLength = 1024

    /// Why a value is refused (out of bounds, unsafe for a shell), or `nil` when it is fine.
    public static func valueRefusal(for name: String, value: String) -> String? {
        if shellSubstituted.contains(name), !value.unicodeScalars.allSatisfy(shellSafeScalars.contains) {
            return "may only contain letters, digits and . _ - / @ (librdkafka puts it on a shell command line)"
        }
        guard let range = limits[name] else { return nil }
        guard let number = Int64(value), range.contains(number) else {
            return "must be an integer between \(range.lowerBound) and \(range.upperBound)"
        }
        return nil
    }

    /// Why a property is refused, or `nil` if the name is acceptable.
    public static func refusal(for name: String) -> String? {
        if let reason = forbidden[name] { return reason }
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
