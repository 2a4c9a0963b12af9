import CRdKafka
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

    /// Installs the log and error callbacks and this context as the opaque.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, opaque)
        rd_kafka_conf_set_log_cb(conf, logCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
    }
}

/// Creates an `rd_kafka_t`; on failure the conf is destroyed and librdkafka's reason thrown.
func makeHandle(
    type: rd_kafka_type_t, config: KafkaConfig, context: ClientContext,
    configure: (OpaquePointer) -> Void = { _ in }
) throws(KafkaError) -> OpaquePointer {
    let conf = try config.makeConf()
    context.install(on: conf)
    configure(conf)
    var reason = ErrorText()
    guard let handle = rd_kafka_new(type, conf, &reason.buffer, reason.buffer.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaError.invalidArgument(reason.string)
    }
    return handle
}
