import Kafka

/// The records read since the last commit, split in two: what goes to the
/// sink, and which offsets the batch completes. A dropped record adds no
/// sink row but still completes its offset, so a batch may commit offsets
/// for records it never writes.
///
/// Records of one partition arrive in offset order, so the last offset seen
/// per partition, plus one, is what the batch lets the group commit.
public struct Batch {
    /// Records for the sink, in arrival order.
    public private(set) var records: [Record] = []
    /// Records for the dead-letter topic; their offsets complete once acknowledged.
    public private(set) var deadLetters: [DeadLetter] = []
    /// Per partition: the last offset completed and what happened to the records.
    public private(set) var partitions: [Progress] = []
    /// Key and value bytes read (the `max_bytes` trigger).
    public private(set) var bytes = 0
    /// Records completed, written or not (the `max_records` trigger).
    public private(set) var consumed = 0
    /// When the first record arrived; the batch-duration metric starts here.
    public private(set) var startedAt: ContinuousClock.Instant?
    private var lastIndex = 0

    public struct Progress: Sendable, Equatable {
        public let partition: TopicPartition
        /// Where a batch that is dropped unwritten must be read again from.
        public let firstOffset: Int64
        public var lastOffset: Int64
        public var consumed = 0
        public var written = 0
    }

    public init(capacity: Int = 0) {
        records.reserveCapacity(capacity)
    }

    /// Nothing read since the last commit.
    public var isEmpty: Bool { partitions.isEmpty }

    /// A record for the sink; its offset completes with the batch. Taken,
    /// not copied: the caller's last use of it.
    public mutating func add(_ record: consuming Record, at now: @autoclosure () -> ContinuousClock.Instant) {
        complete(record.message, at: now())
        partitions[lastIndex].written += 1
        records.append(record)
    }

    /// A record for the dead-letter topic; its offset completes with the batch
    /// once the dead-letter topic has acknowledged it.
    public mutating func addDeadLetter(_ letter: DeadLetter, at now: @autoclosure () -> ContinuousClock.Instant) {
        complete(letter.message, at: now())
        deadLetters.append(letter)
    }

    /// Dead letters the dead-letter topic acknowledged.
    public mutating func markDelivered(_ indexes: [Int]) {
        for index in indexes { deadLetters[index].delivered = true }
    }

    public var undeliveredDeadLetters: Int { deadLetters.count(where: { !$0.delivered }) }

    /// Records the sink refused for good become dead letters: `rejections`
    /// maps indexes into ``records`` to why. Their offsets stay in the batch.
    public mutating func moveToDeadLetters(_ rejections: [Int: Rejection]) {
        guard !rejections.isEmpty else { return }
        var kept: [Record] = []
        kept.reserveCapacity(records.count - rejections.count)
        for (index, record) in records.enumerated() {
            guard let rejection = rejections[index] else {
                kept.append(record)
                continue
            }
            deadLetters.append(DeadLetter(message: record.message, rejection: rejection))
            if let progress = partitions.firstIndex(where: { $0.partition == record.message.topicPartition }) {
                partitions[progress].written -= 1
            }
        }
        records = kept
    }

    /// A record the sink will not see (dropped); only its offset completes.
    public mutating func complete(_ message: KafkaMessage, at now: @autoclosure () -> ContinuousClock.Instant) {
        // The first record, asked as a count: `ContinuousClock.Instant` is
        // opaque outside the standard library, so testing the optional went
        // through its value witnesses for every record (perf: 0.8 % of a
        // JSON drain). A batch has a start exactly when it has completions.
        if consumed == 0 { startedAt = now() }
        consumed += 1
        bytes += (message.value?.count ?? 0) + (message.key?.count ?? 0)
        // Consecutive records mostly share a partition: check the last one first.
        if lastIndex < partitions.count, partitions[lastIndex].partition.partition == message.partition,
            partitions[lastIndex].partition.topic == message.topic
        {
            partitions[lastIndex].lastOffset = message.offset
            partitions[lastIndex].consumed += 1
            return
        }
        let key = message.topicPartition
        if let index = partitions.firstIndex(where: { $0.partition == key }) {
            partitions[index].lastOffset = message.offset
            partitions[index].consumed += 1
            lastIndex = index
        } else {
            partitions.append(Progress(partition: key, firstOffset: message.offset, lastOffset: message.offset, consumed: 1))
            lastIndex = partitions.count - 1
        }
    }

    /// Records for the sink, counted per partition: the same as
    /// `records.count` until ``releaseRecords()``.
    public var written: Int { partitions.reduce(0) { $0 + $1.written } }

    /// The sink has every record: frees them, keeping the capacity and what
    /// the commit needs (offsets, counts).
    public mutating func releaseRecords() {
        records.removeAll(keepingCapacity: true)
    }

    /// The offsets to store and commit once the batch is durable: next to read per partition.
    public var offsets: [TopicPartitionOffset] {
        partitions.map { TopicPartitionOffset($0.partition, offset: $0.lastOffset + 1) }
    }

    public mutating func removeAll() {
        records.removeAll(keepingCapacity: true)
        deadLetters.removeAll()
        partitions.removeAll(keepingCapacity: true)
        lastIndex = 0
        consumed = 0
        bytes = 0
        startedAt = nil
    }

    /// Forgets everything of partitions this member no longer owns; returns
    /// how many records were dropped. Their offsets are not committed: the
    /// new owner reads them again.
    @discardableResult
    public mutating func remove(partitions gone: Set<TopicPartition>) -> Int {
        guard partitions.contains(where: { gone.contains($0.partition) }) else { return 0 }
        let before = records.count + deadLetters.count
        records.removeAll { gone.contains($0.message.topicPartition) }
        deadLetters.removeAll { gone.contains($0.message.topicPartition) }
        partitions.removeAll { gone.contains($0.partition) }
        consumed = partitions.reduce(0) { $0 + $1.consumed }
        lastIndex = 0
        if partitions.isEmpty { removeAll() }
        return before - records.count - deadLetters.count
    }
}
