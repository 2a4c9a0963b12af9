import CRdKafka
import DataModel
import Logging
import Synchronization

/// What librdkafka's callbacks reach through a handle's opaque pointer.
///
/// The owning client (consumer, producer, admin, cluster) retains its context
/// and destroys the C handle before releasing it, so `passUnretained` is safe:
/// no callback can run after `rd_kafka_destroy` returns.
final class ClientContext: Sendable {
    let logger: Logger
    /// Set when an error callback fired; lets the polling thread skip the lock on the hot path.
    private let hasErrors = Atomic<Bool>(false)
    private let errors = Mutex<[KafkaError]>([])
    /// Rebalance delegate of a consumer; only touched on the consumer's polling thread.
    nonisolated(unsafe) weak var delegate: (any KafkaConsumerDelegate)?
    /// The client that owns the handle, for callbacks that need more than the handle.
    nonisolated(unsafe) weak var owner: AnyObject?
    /// Brokers up in the last statistics report (when statistics are on).
    let brokers = Mutex<BrokerContact?>(nil)

    init(logger: Logger) {
        self.logger = logger
    }

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    func report(_ error: KafkaError) {
        errors.withLock { pending in
            // Bounded: a client that is down can report the same error forever.
            if pending.count < 64 { pending.append(error) }
        }
        hasErrors.store(true, ordering: .releasing)
    }

    func takeErrors() -> [KafkaError] {
        guard hasErrors.load(ordering: .acquiring) else { return [] }
        hasErrors.store(false, ordering: .relaxed)
        return errors.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
    }

    /// Installs the log, error and statistics callbacks and this context as the opaque.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, opaque)
        rd_kafka_conf_set_log_cb(conf, logCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
        rd_kafka_conf_set_stats_cb(conf, statisticsCallback)
    }
}

/// Creates an `rd_kafka_t`; on failure the conf is destroyed and librdkafka's reason thrown.
func makeHandle(
    type: rd_kafka_type_t, config: KafkaConfig, context: ClientContext,
    configure: (OpaquePointer) -> Void = { _ in }
) throws(KafkaError) -> OpaquePointer {
    let conf = try config.makeConf()
    context.install(on: conf)
    DataPathPriority.install(on: conf)
    configure(conf)
    var reason = ErrorText()
    guard let handle = rd_kafka_new(type, conf, &reason.buffer, reason.buffer.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaError.invalidArgument(reason.string)
    }
    return handle
}

/// What librdkafka's statistics say about the connections to the cluster.
public struct BrokerContact: Sendable, Equatable {
    /// Brokers with an open connection (`state` `UP`), not counting the internal one.
    public var up: Int
    public var known: Int
    public var reportedAt: ContinuousClock.Instant
}

/// `statistics.interval.ms` reports: only the brokers' connection states are kept.
private let statisticsCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
    _, json, length, opaque in
    guard let json, let opaque else { return 0 }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    let bytes = UnsafeRawBufferPointer(start: json, count: length)
    guard case .object(let stats)? = try? JSONParser.parse(Array(bytes), duplicateKeys: .lastWins),
        case .object(let brokers)? = stats["brokers"]
    else { return 0 }
    var up = 0
    var known = 0
    for broker in brokers.fields {
        guard case .object(let fields) = broker.value, fields["source"]?.stringValue != "internal" else { continue }
        known += 1
        if fields["state"]?.stringValue == "UP" { up += 1 }
    }
    context.brokers.withLock { $0 = BrokerContact(up: up, known: known, reportedAt: .now) }
    return 0  // librdkafka frees the JSON.
}
