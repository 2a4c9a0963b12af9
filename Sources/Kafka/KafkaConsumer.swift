import CRdKafka
import Foundation
import Logging

/// A consumer-group member over librdkafka's high-level consumer.
///
/// Not thread-safe by design: one thread creates it, polls it and closes it
/// (``KafkaConsumerDelegate`` callbacks run inside those calls). Offsets are
/// never stored automatically; the owner stores them once records are safe.
public final class KafkaConsumer {
    private let handle: OpaquePointer
    private let context: ClientContext
    /// Results of asynchronous commits, polled without blocking.
    private let commitQueue: OpaquePointer
    /// The queue `poll` blocks on, kept to wake it (``wake()``).
    private let consumerQueue: OpaquePointer?
    private var closed = false
    /// Most messages in a row come from the same topic; resolving the name once
    /// per topic switch avoids a String allocation per record.
    private var lastTopicHandle: OpaquePointer?
    private var lastTopicName = ""
    /// The message pointers a burst (``poll(into:maximum:timeout:)``) fills;
    /// allocated once, at the largest burst asked for.
    private var burstSlots = UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>?>(start: nil, count: 0)
    /// Fixed by configuration. Asking librdkafka inside a callback can hang
    /// during close (librdkafka #4041), so it is never asked.
    public let rebalanceProtocol: RebalanceProtocol
    private var everAssigned = false

    /// Connection states from the last statistics report (with `statistics.interval.ms` set).
    public var brokerContact: BrokerContact? { context.brokers.withLock { $0 } }

    /// Copy each record's headers (off by default: parsing headers costs per record).
    public var readsHeaders = false

    public weak var delegate: (any KafkaConsumerDelegate)? {
        get { context.delegate }
        set { context.delegate = newValue }
    }

    /// Creates the client. `config` must contain `group.id`; callers decide the
    /// commit policy (``KafkaConsumer`` never enables auto offset store itself).
    public init(config: KafkaConfig, logger: Logger) throws(KafkaError) {
        guard config["group.id"]?.isEmpty == false else {
            throw KafkaError.invalidArgument("group.id is required for a consumer")
        }
        let context = ClientContext(logger: logger)
        self.context = context
        self.rebalanceProtocol = Self.rebalanceProtocol(for: config)
        self.handle = try makeHandle(type: RD_KAFKA_CONSUMER, config: config, context: context) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
        }
        commitQueue = rd_kafka_queue_new(handle)
        // Serve log/error events from the consumer queue, i.e. in poll().
        rd_kafka_poll_set_consumer(handle)
        consumerQueue = rd_kafka_queue_get_consumer(handle)
        context.owner = self
    }

    deinit {
        burstSlots.deallocate()
        rd_kafka_queue_destroy(commitQueue)
        if let consumerQueue { rd_kafka_queue_destroy(consumerQueue) }
        if !closed {
            // Without a close the group only notices after session.timeout.ms.
            context.delegate = nil
            _ = rd_kafka_consumer_close(handle)
        }
        if destroyWouldAbort {
            // Leaking one closed handle beats aborting the whole process. Its
            // threads still log through the context, so that leaks with it.
            context.logger.warning(
                "not destroying a cooperative-sticky consumer that never received an assignment (librdkafka #4312, fixed in 2.3.0)")
            _ = Unmanaged.passRetained(context)
            return
        }
        rd_kafka_destroy(handle)
    }

    /// librdkafka before 2.3.0 asserts in `rd_kafka_destroy` when a
    /// cooperative-sticky member joined a group but never got its first assignment.
    private var destroyWouldAbort: Bool {
        rebalanceProtocol == .cooperative && !everAssigned && rd_kafka_version() < 0x0203_00ff
    }

    /// `cooperative-sticky` is librdkafka's only cooperative assignor, and it
    /// cannot be mixed with eager ones.
    static func rebalanceProtocol(for config: KafkaConfig) -> RebalanceProtocol {
        let strategies = (config["partition.assignment.strategy"] ?? "range,roundrobin")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return strategies == ["cooperative-sticky"] ? .cooperative : .eager
    }

    /// Subscribes to a list of topics.
    public func subscribe(topics: [String]) throws(KafkaError) {
        guard !topics.isEmpty else { throw KafkaError.invalidArgument("no topics to subscribe to") }
        try subscribe(names: topics)
    }

    /// Subscribes to every topic matching a regex (must start with `^`);
    /// new matching topics are picked up on metadata refresh.
    public func subscribe(pattern: String) throws(KafkaError) {
        try TopicPattern.validate(pattern)
        try subscribe(names: [pattern])
    }

    private func subscribe(names: [String]) throws(KafkaError) {
        let list = PartitionList(names.map { TopicPartition(topic: $0, partition: crd_partition_unassigned) })
        try check(rd_kafka_subscribe(handle, list.pointer), "subscribe")
    }

    /// Makes a ``poll(timeout:)`` blocked on another thread return at once
    /// (with no record). Safe from any thread while the consumer exists; a
    /// wake with no poll under way makes the next one return early.
    public func wake() {
        if let consumerQueue { rd_kafka_queue_yield(consumerQueue) }
    }

    /// Reads these partitions from these offsets without joining the group:
    /// no subscription, no rebalances, no commits unless asked for. For
    /// tools that look into a topic (a dead-letter topic) for no group.
    public func assign(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        let list = PartitionList(offsets)
        try check(rd_kafka_assign(handle, list.pointer), "assign")
        everAssigned = true
    }

    /// Waits up to `timeout` for the next record. Rebalance and error callbacks
    /// run inside this call. Throws for per-partition consume errors and for
    /// fatal client errors; returns `nil` when nothing arrived in time.
    public func poll(timeout: Duration) throws(KafkaError) -> KafkaMessage? {
        let message = rd_kafka_consumer_poll(handle, timeout.kafkaMilliseconds)
        // Every message must be destroyed before the handle is, whatever is thrown.
        defer { if let message { rd_kafka_message_destroy(message) } }
        try deliverClientErrors()
        guard let message else { return nil }
        let err = message.pointee.err
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return nil }
            throw Self.consumeError(message)
        }
        return KafkaMessage(message, topic: topicName(message.pointee.rkt), readHeaders: readsHeaders)
    }

    /// Replaces `messages` with up to `maximum` records: waits up to
    /// `timeout` for the first, then takes only what is already fetched.
    ///
    /// One call per burst instead of one per record spares librdkafka's
    /// per-call work (its poll bookkeeping and queue wake-ups) and the
    /// caller's per-iteration work. As in ``poll(timeout:)``, rebalance and
    /// error callbacks run inside the call; librdkafka (≥ 1.9, with a
    /// rebalance callback, as here) leaves out records of partitions revoked
    /// or seeked meanwhile. Per-partition consume errors go to the delegate
    /// and the records around them are kept; fatal client errors are thrown.
    public func poll(into messages: inout [KafkaMessage], maximum: Int, timeout: Duration) throws(KafkaError) {
        messages.removeAll(keepingCapacity: true)
        guard let consumerQueue, maximum > 1 else {
            if let message = try poll(timeout: timeout) { messages.append(message) }
            return
        }
        if burstSlots.count < maximum {
            burstSlots.deallocate()
            burstSlots = .allocate(capacity: maximum)
        }
        let slots = burstSlots.baseAddress!
        var count = 0
        if timeout > .zero {
            // librdkafka waits the whole timeout for a full burst: wait for one record only.
            count = max(0, rd_kafka_consume_batch_queue(consumerQueue, timeout.kafkaMilliseconds, slots, 1))
        }
        if timeout == .zero || count == 1 {
            count += max(0, rd_kafka_consume_batch_queue(consumerQueue, 0, slots + count, maximum - count))
        }
        var fatal: KafkaError?
        for index in 0..<count {
            guard let message = slots[index] else { continue }
            // Every message is destroyed, whatever else happens.
            defer { rd_kafka_message_destroy(message) }
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                messages.append(KafkaMessage(message, topic: topicName(message.pointee.rkt), readHeaders: readsHeaders))
            } else if err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                let error = Self.consumeError(message)
                if error.isFatal { fatal = fatal ?? error } else { delegate?.consumer(self, didReport: error) }
            }
        }
        try deliverClientErrors()
        if let fatal { throw fatal }
    }

    private static func consumeError(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaError {
        var where_ = "consume"
        if let rkt = message.pointee.rkt {
            where_ = "consume \(String(cString: rd_kafka_topic_name(rkt)))[\(message.pointee.partition)]"
        }
        let detail = rd_kafka_message_errstr(message).map { String(cString: $0) }
        return KafkaError(message.pointee.err, context: detail.map { "\(where_): \($0)" } ?? where_)
    }

    @inline(__always)
    private func topicName(_ rkt: OpaquePointer?) -> String {
        guard let rkt else { return "" }
        if rkt != lastTopicHandle {
            lastTopicHandle = rkt
            lastTopicName = String(cString: rd_kafka_topic_name(rkt))
        }
        return lastTopicName
    }

    private func deliverClientErrors() throws(KafkaError) {
        for error in context.takeErrors() {
            if error.isFatal { throw error }
            delegate?.consumer(self, didReport: error)
        }
    }

    /// Marks records as processed: each offset must be the *next* offset to
    /// read (last written + 1). Stored offsets are what ``commit()`` sends.
    public func store(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = PartitionList(offsets)
        try check(rd_kafka_offsets_store(handle, list.pointer), "store offsets")
        if let error = list.firstError(context: "store offset") { throw error }
    }

    /// The outcome of one commit of the stored offsets.
    public struct CommitResult: Sendable {
        /// `nil` on success.
        public var error: KafkaError?
        /// What the group now has per partition (on success).
        public var offsets: [TopicPartitionOffset]
        /// There was nothing new to commit.
        public var nothingToCommit: Bool
    }

    /// Starts committing the stored offsets without waiting; the result comes
    /// from ``takeCommitResults()``. The loop keeps polling meanwhile, so a
    /// slow coordinator never holds it up.
    public func commitAsync() throws(KafkaError) {
        try check(rd_kafka_commit_queue(handle, nil, commitQueue, nil, nil), "commit")
    }

    /// Results of ``commitAsync()`` calls that have arrived (never blocks).
    public func takeCommitResults() -> [CommitResult] {
        var results: [CommitResult] = []
        while let event = rd_kafka_queue_poll(commitQueue, 0) {
            results.append(Self.commitResult(event))
            rd_kafka_event_destroy(event)
        }
        return results
    }

    /// Commits the stored offsets and waits up to `timeout` for the answer
    /// (on revoke and on stop, where the offsets must be in before going on).
    /// Throws `_TIMED_OUT` when the coordinator did not answer in time.
    @discardableResult
    public func commit(timeout: Duration = .seconds(10)) throws(KafkaError) -> CommitResult {
        try commitAndWait(nil, timeout: timeout)
    }

    /// Commits these offsets (not the stored ones) as this member and waits
    /// up to `timeout` for the coordinator's answer.
    public func commit(_ offsets: [TopicPartitionOffset], timeout: Duration = .seconds(10)) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = PartitionList(offsets)
        try commitAndWait(list.pointer, timeout: timeout)
    }

    /// `offsets` nil: the stored offsets.
    @discardableResult
    private func commitAndWait(
        _ offsets: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, timeout: Duration
    ) throws(KafkaError) -> CommitResult {
        guard let queue = rd_kafka_queue_new(handle) else { throw KafkaError.invalidArgument("rd_kafka_queue_new failed") }
        defer { rd_kafka_queue_destroy(queue) }
        try check(rd_kafka_commit_queue(handle, offsets, queue, nil, nil), "commit")
        guard let event = rd_kafka_queue_poll(queue, timeout.kafkaMilliseconds) else {
            throw KafkaError(code: .timedOut, message: "commit: no answer from the group coordinator within \(timeout)", isRetriable: true)
        }
        defer { rd_kafka_event_destroy(event) }
        let result = Self.commitResult(event)
        if let error = result.error { throw error }
        return result
    }

    private static func commitResult(_ event: OpaquePointer) -> CommitResult {
        let err = rd_kafka_event_error(event)
        let offsets = rd_kafka_event_topic_partition_list(event).map { PartitionList.offsets(of: $0) } ?? []
        switch err {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            return CommitResult(error: nil, offsets: offsets, nothingToCommit: false)
        case RD_KAFKA_RESP_ERR__NO_OFFSET:
            return CommitResult(error: nil, offsets: [], nothingToCommit: true)
        default:
            return CommitResult(error: KafkaError(err, context: "commit"), offsets: offsets, nothingToCommit: false)
        }
    }

    /// The current group membership, for a transaction that commits this
    /// consumer's offsets (`nil` before the consumer has joined).
    public func groupMetadata() -> ConsumerGroupMetadata? {
        rd_kafka_consumer_group_metadata(handle).map(ConsumerGroupMetadata.init)
    }

    /// Stops fetching from these partitions; the group membership stays.
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let list = PartitionList(partitions)
        try check(rd_kafka_pause_partitions(handle, list.pointer), "pause")
    }

    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let list = PartitionList(partitions)
        try check(rd_kafka_resume_partitions(handle, list.pointer), "resume")
    }

    /// Moves the fetch position of assigned partitions (next record to read).
    /// Records already fetched beyond it are discarded, so `poll` returns
    /// the record at `offset` next. Blocks until librdkafka has applied it,
    /// which takes milliseconds, unless its threads wait for a busy CPU: a
    /// whole test suite on two cores once needed more than 5 s. A seek that
    /// times out fails its caller (a consumer run then starts over from its
    /// committed offsets), so the default leaves room.
    public func seek(_ offsets: [TopicPartitionOffset], timeout: Duration = .seconds(30)) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = PartitionList(offsets)
        if let error = rd_kafka_seek_partitions(handle, list.pointer, timeout.kafkaMilliseconds) {
            throw KafkaError(consuming: error, context: "seek")
        }
        if let error = list.firstError(context: "seek") { throw error }
    }

    /// The partitions currently assigned to this member.
    public func assignment() throws(KafkaError) -> [TopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        try check(rd_kafka_assignment(handle, &list), "assignment")
        guard let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return PartitionList.partitions(of: list)
    }

    /// The group's committed offsets for `partitions`, asked of the coordinator (blocks).
    public func committed(_ partitions: [TopicPartition], timeout: Duration) throws(KafkaError) -> [TopicPartitionOffset] {
        guard !partitions.isEmpty else { return [] }
        let list = PartitionList(partitions)
        try check(rd_kafka_committed(handle, list.pointer, timeout.kafkaMilliseconds), "committed offsets")
        return list.offsets
    }

    /// The next offset this member will fetch per partition (local, non-blocking).
    public func positions(_ partitions: [TopicPartition]) throws(KafkaError) -> [TopicPartitionOffset] {
        guard !partitions.isEmpty else { return [] }
        let list = PartitionList(partitions)
        try check(rd_kafka_position(handle, list.pointer), "position")
        return list.offsets
    }

    /// Low and high watermarks last seen in fetch responses (local, non-blocking);
    /// `nil` until the partition has been fetched.
    public func cachedWatermarks(_ partition: TopicPartition) -> (low: Int64, high: Int64)? {
        var low: Int64 = crd_offset_invalid
        var high: Int64 = crd_offset_invalid
        let err = rd_kafka_get_watermark_offsets(handle, partition.topic, partition.partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (max(low, 0), high)
    }

    /// High watermarks asked of the partition leaders in one ListOffsets
    /// round (blocks up to `timeout`). Needed for paused partitions, which
    /// are not fetched and so have no fresh cached watermarks. Partitions
    /// that could not be answered have no offset.
    public func queryHighWatermarks(_ partitions: [TopicPartition], timeout: Duration) throws(KafkaError) -> [TopicPartitionOffset] {
        guard !partitions.isEmpty else { return [] }
        // A ListOffsets "timestamp" of OFFSET_END asks for the log end.
        let list = PartitionList(partitions.map { TopicPartitionOffset($0, offset: crd_offset_end) })
        try check(rd_kafka_offsets_for_times(handle, list.pointer, timeout.kafkaMilliseconds), "high watermarks")
        return list.offsets
    }

    /// Leaves the group cleanly: revoke callbacks run (last chance to commit),
    /// then the member leaves so its partitions move at once.
    public func close() throws(KafkaError) {
        guard !closed else { return }
        closed = true
        // A member closed while its first join is still under way stays in
        // the group until its session times out, and the group's partitions
        // wait for it. Let the join settle so that close leaves properly.
        if !everAssigned { awaitFirstAssignment(timeout: destroyWouldAbort ? .seconds(10) : Self.joinSettleTimeout) }
        let err = rd_kafka_consumer_close(handle)
        context.delegate = nil
        try check(err, "close")
    }

    /// How long close waits for a first assignment that has not come yet.
    public static let joinSettleTimeout: Duration = .seconds(5)

    /// Gives a joining member the chance to receive its first assignment,
    /// after which it leaves the group cleanly (and a cooperative one can be
    /// destroyed safely). Records polled here are not processed and, never
    /// stored, are read again later.
    private func awaitFirstAssignment(timeout: Duration) {
        let deadline = ContinuousClock.now + timeout
        while !everAssigned, ContinuousClock.now < deadline {
            if let message = rd_kafka_consumer_poll(handle, 100) {
                rd_kafka_message_destroy(message)
            }
        }
    }

    // MARK: Rebalance

    fileprivate func handleRebalance(_ err: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let cooperative = rebalanceProtocol == .cooperative
        let partitions = PartitionList.partitions(of: list)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            // A sink that keeps its own offsets says where to start.
            if let starting = delegate?.consumer(self, startingOffsetsFor: partitions), !starting.isEmpty {
                PartitionList.setOffsets(starting, in: list)
            }
            if cooperative {
                if let error = rd_kafka_incremental_assign(handle, list) {
                    reportRebalanceFailure(KafkaError(consuming: error, context: "incremental assign"))
                    return
                }
            } else if let failure = assignFailure(rd_kafka_assign(handle, list), "assign") {
                reportRebalanceFailure(failure)
                return
            }
            everAssigned = true
            delegate?.consumer(self, didAssign: partitions)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            if rd_kafka_assignment_lost(handle) != 0 {
                delegate?.consumer(self, didLose: partitions)
            } else {
                delegate?.consumer(self, willRevoke: partitions)
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, list) {
                    reportRebalanceFailure(KafkaError(consuming: error, context: "incremental unassign"))
                }
            } else if let failure = assignFailure(rd_kafka_assign(handle, nil), "unassign") {
                reportRebalanceFailure(failure)
            }
        default:
            // librdkafka asks us to drop the assignment on rebalance errors.
            reportRebalanceFailure(KafkaError(err, context: "rebalance"))
            _ = rd_kafka_assign(handle, nil)
        }
    }

    private func assignFailure(_ err: rd_kafka_resp_err_t, _ what: String) -> KafkaError? {
        err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err, context: what)
    }

    private func reportRebalanceFailure(_ error: KafkaError) {
        context.logger.error("rebalance failed", metadata: ["error": "\(error)"])
        delegate?.consumer(self, didReport: error)
    }

}

let rebalanceCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { rk, err, list, opaque in
    guard let rk, let list, let opaque else { return }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    if let consumer = context.owner as? KafkaConsumer {
        consumer.handleRebalance(err, list)
    } else {
        // The consumer is being torn down: keep librdkafka's state consistent.
        if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            _ = rd_kafka_assign(rk, list)
        } else {
            _ = rd_kafka_assign(rk, nil)
        }
    }
}
