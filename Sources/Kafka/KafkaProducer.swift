import CRdKafka
import Logging
import Synchronization

/// A thread-safe producer. ``send(topic:partition:key:value:headers:onDelivery:)``
/// only enqueues; delivery reports arrive in ``poll(timeout:)`` or ``flush(timeout:)``.
public final class KafkaProducer: Sendable {
    nonisolated(unsafe) let handle: OpaquePointer
    private let context: ClientContext
    private let counters = DeliveryCounters()

    /// Outcome of one send, delivered on the thread that polls or flushes.
    public typealias DeliveryHandler = @Sendable (Result<TopicPartitionOffset, KafkaError>) -> Void

    public init(config: KafkaConfig, logger: Logger) throws(KafkaError) {
        let context = ClientContext(logger: logger)
        self.context = context
        self.handle = try makeHandle(type: RD_KAFKA_PRODUCER, config: config, context: context) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryCallback)
        }
        context.owner = counters
    }

    deinit {
        rd_kafka_destroy(handle)
    }

    /// Enqueues a record. Throws when librdkafka refuses it at once (queue full,
    /// unknown partition, message too large); otherwise `onDelivery` reports the outcome.
    public func send(
        topic: String,
        partition: Int32? = nil,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [KafkaHeader] = [],
        onDelivery: DeliveryHandler? = nil
    ) throws(KafkaError) {
        let opaque = onDelivery.map { Unmanaged.passRetained(DeliveryBox($0)).toOpaque() }
        var headerList: OpaquePointer?
        if !headers.isEmpty {
            headerList = rd_kafka_headers_new(headers.count)
            for header in headers {
                withOptionalBytes(header.value) { pointer, count in
                    _ = rd_kafka_header_add(headerList, header.name, -1, pointer, count)
                }
            }
        }
        let err = withOptionalBytes(key) { keyPointer, keyCount in
            withOptionalBytes(value) { valuePointer, valueCount in
                crd_produce(
                    handle, topic, partition ?? crd_partition_unassigned,
                    keyPointer, keyCount, valuePointer, valueCount, headerList, opaque)
            }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            // On failure ownership of the headers and the opaque stays with us.
            if let headerList { rd_kafka_headers_destroy(headerList) }
            if let opaque { Unmanaged<DeliveryBox>.fromOpaque(opaque).release() }
            throw KafkaError(err, context: "produce to \(topic)")
        }
    }

    /// Serves delivery reports; returns how many events were served.
    @discardableResult
    public func poll(timeout: Duration = .zero) -> Int {
        Int(rd_kafka_poll(handle, timeout.kafkaMilliseconds))
    }

    /// Waits until every enqueued record is delivered or failed.
    public func flush(timeout: Duration) throws(KafkaError) {
        let err = rd_kafka_flush(handle, timeout.kafkaMilliseconds)
        if err == RD_KAFKA_RESP_ERR__TIMED_OUT {
            throw KafkaError(code: .timedOut, message: "\(outstanding) records still in flight after \(timeout)", isRetriable: true)
        }
        try check(err, "flush")
    }

    /// Records enqueued or in flight, not yet reported.
    public var outstanding: Int { Int(rd_kafka_outq_len(handle)) }
    /// Records the brokers acknowledged.
    public var delivered: Int { counters.delivered.load(ordering: .relaxed) }
    /// Records that failed for good (after librdkafka's own retries).
    public var failed: Int { counters.failed.load(ordering: .relaxed) }
}

final class DeliveryCounters: Sendable {
    let delivered = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
}

private final class DeliveryBox {
    let handler: KafkaProducer.DeliveryHandler
    init(_ handler: @escaping KafkaProducer.DeliveryHandler) { self.handler = handler }
}

private let deliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, opaque in
    guard let message, let opaque else { return }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    let m = message.pointee
    let ok = m.err == RD_KAFKA_RESP_ERR_NO_ERROR
    if let counters = context.owner as? DeliveryCounters {
        if ok {
            counters.delivered.add(1, ordering: .relaxed)
        } else {
            counters.failed.add(1, ordering: .relaxed)
        }
    }
    guard let boxPointer = m._private else { return }
    let box = Unmanaged<DeliveryBox>.fromOpaque(boxPointer).takeRetainedValue()
    let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
    if ok {
        box.handler(.success(TopicPartitionOffset(TopicPartition(topic: topic, partition: m.partition), offset: m.offset)))
    } else {
        box.handler(.failure(KafkaError(m.err, context: "deliver to \(topic)")))
    }
}

/// Passes `nil` through as a null pointer (null key, tombstone value).
private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
    guard let bytes else { return body(nil, 0) }
    return bytes.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count) }
}
