import CRdKafka

/// Kafka transactions (a producer with `transactional.id`): records and a
/// consumer's offsets committed together, or neither. Each call blocks up to
/// its timeout; run them on the consumer's own thread.
extension KafkaProducer {
    /// Registers the transactional id with its coordinator, fencing any
    /// earlier producer with the same id and aborting what it left open.
    public func initTransactions(timeout: Duration) throws(KafkaError) {
        try transactionCall("init transactions") { rd_kafka_init_transactions(handle, timeout.kafkaMilliseconds) }
    }

    public func beginTransaction() throws(KafkaError) {
        try transactionCall("begin transaction") { rd_kafka_begin_transaction(handle) }
    }

    /// Adds the consumer's next offsets to the open transaction: they are
    /// committed to the consumer's group if and only if the transaction is.
    public func sendOffsetsToTransaction(
        _ offsets: [TopicPartitionOffset], group: ConsumerGroupMetadata, timeout: Duration
    ) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = PartitionList(offsets)
        try transactionCall("send offsets to transaction") {
            rd_kafka_send_offsets_to_transaction(handle, list.pointer, group.pointer, timeout.kafkaMilliseconds)
        }
    }

    /// Flushes the transaction's records and commits it.
    public func commitTransaction(timeout: Duration) throws(KafkaError) {
        try transactionCall("commit transaction") { rd_kafka_commit_transaction(handle, timeout.kafkaMilliseconds) }
    }

    public func abortTransaction(timeout: Duration) throws(KafkaError) {
        try transactionCall("abort transaction") { rd_kafka_abort_transaction(handle, timeout.kafkaMilliseconds) }
    }

    private func transactionCall(_ what: String, _ call: () -> OpaquePointer?) throws(KafkaError) {
        if let error = call() { throw KafkaError(consuming: error, context: what) }
    }
}

/// A consumer's group membership (group, generation, member id) as a
/// transaction needs it to commit the consumer's offsets and to fence a
/// zombie member of an older generation.
public final class ConsumerGroupMetadata: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        rd_kafka_consumer_group_metadata_destroy(pointer)
    }
}
