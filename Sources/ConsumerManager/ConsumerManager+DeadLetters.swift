import Foundation
import Kafka
import Logging
import Pipeline
import Synchronization

/// A record in a consumer's dead-letter topic, with the `consumerd.*`
/// context headers the consumer gave it decoded.
public struct DeadLetterRecord: Sendable {
    public var message: KafkaMessage
    public var stage: String?
    public var errorType: String?
    public var errorMessage: String?
    public var originalTopic: String?
    public var originalPartition: Int32?
    public var originalOffset: Int64?
    public var failedAt: String?
    public var attempts: Int?
    /// The dead-letter record this one was redriven from, when it failed again.
    public var redrivenFrom: String?
    /// The record's own headers, without consumerd's context headers.
    public var originalHeaders: [KafkaHeader]

    init(_ message: KafkaMessage) {
        self.message = message
        var context: [String: String] = [:]
        var own: [KafkaHeader] = []
        for header in message.headers {
            if header.name.hasPrefix(Self.contextPrefix), header.name != Self.redrivenFromHeader {
                context[header.name] = header.value.map { String(decoding: $0, as: UTF8.self) } ?? ""
            } else {
                own.append(header)
            }
        }
        stage = context["consumerd.stage"]
        errorType = context["consumerd.error.type"]
        errorMessage = context["consumerd.error.message"]
        originalTopic = context["consumerd.original.topic"]
        originalPartition = context["consumerd.original.partition"].flatMap { Int32($0) }
        originalOffset = context["consumerd.original.offset"].flatMap { Int64($0) }
        failedAt = context["consumerd.failed_at"]
        attempts = context["consumerd.attempts"].flatMap { Int($0) }
        redrivenFrom = message.headers.last { $0.name == Self.redrivenFromHeader }?.value.map { String(decoding: $0, as: UTF8.self) }
        originalHeaders = own.filter { $0.name != Self.redrivenFromHeader }
    }

    static let contextPrefix = "consumerd."
    /// Set on a redriven record: `<dead-letter topic>/<partition>/<offset>`.
    public static let redrivenFromHeader = "consumerd.redriven_from"

    var coordinates: String { "\(message.topic)/\(message.partition)/\(message.offset)" }
}

/// One page of a dead-letter topic.
public struct DeadLetterPage: Sendable {
    public var topics: [String]
    public var records: [DeadLetterRecord]
    /// Per partition, where the next page starts; absent once read to the end.
    public var next: [TopicPartitionOffset]
}

/// Which dead letters to send back (`POST /consumers/{name}/dead-letters/redrive`).
public struct RedriveRequest: Sendable, Equatable {
    public var partition: Int32?
    /// Inclusive offsets in the dead-letter topic.
    public var fromOffset: Int64?
    public var toOffset: Int64?
    public var errorType: String?
    public var stage: String?
    /// Where to send them instead of each record's original topic.
    public var topic: String?
    public var limit: Int

    public init(
        partition: Int32? = nil, fromOffset: Int64? = nil, toOffset: Int64? = nil, errorType: String? = nil, stage: String? = nil,
        topic: String? = nil, limit: Int = 10_000
    ) {
        self.partition = partition
        self.fromOffset = fromOffset
        self.toOffset = toOffset
        self.errorType = errorType
        self.stage = stage
        self.topic = topic
        self.limit = limit
    }

    public static let maxLimit = 100_000
}

public struct RedriveReport: Sendable, Equatable {
    /// Dead letters in the range that matched the filters.
    public var matched = 0
    public var redriven = 0
    /// Redriven by an earlier call: not sent again.
    public var alreadyRedriven = 0
    public var failed = 0
    public var errors: [String] = []
}

/// The dead letters already sent back, per dead-letter partition, as
/// ranges of offsets; persisted with the consumer's spec so that a redrive
/// repeated (by an operator, a script retrying) sends nothing twice.
public struct RedriveLedger: Codable, Sendable, Equatable {
    /// "topic/partition" → sorted, disjoint, inclusive ranges.
    public var ranges: [String: [[Int64]]] = [:]

    public init() {}

    func contains(_ partition: TopicPartition, _ offset: Int64) -> Bool {
        (ranges["\(partition.topic)/\(partition.partition)"] ?? []).contains { $0[0] <= offset && offset <= $0[1] }
    }

    mutating func insert(_ partition: TopicPartition, _ offset: Int64) {
        let key = "\(partition.topic)/\(partition.partition)"
        var list = ranges[key] ?? []
        list.append([offset, offset])
        ranges[key] = Self.merged(list)
    }

    /// Sorted, with overlapping and adjacent ranges joined.
    static func merged(_ list: [[Int64]]) -> [[Int64]] {
        var merged: [[Int64]] = []
        for range in list.sorted(by: { $0[0] < $1[0] }) {
            if let last = merged.last, range[0] <= last[1] + 1 {
                merged[merged.count - 1][1] = max(last[1], range[1])
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    var isEmpty: Bool { ranges.isEmpty }
}

extension ConsumerManager {
    public static let maxDeadLetterPage = 1000

    /// Reads dead letters without a consumer group (nothing is committed,
    /// no member joins): from `from` (per partition; default the log start)
    /// up to `limit` records. Blocks on the cluster: call it off the pool.
    public func deadLetters(
        of name: String, partition: Int32? = nil, from: Int64? = nil, limit: Int = 100
    ) throws(ConsumerManagerError) -> DeadLetterPage {
        let spec = try status(name).spec
        let topics = try deadLetterTopics(of: spec)
        let ranges = try deadLetterRanges(topics: topics, partition: partition, from: from, to: nil)
        let (records, next) = try readDeadLetters(spec, ranges: ranges, limit: min(max(1, limit), Self.maxDeadLetterPage), keep: { _ in true })
        return DeadLetterPage(topics: topics, records: records, next: next)
    }

    /// Sends dead letters back to their original topic (or `request.topic`)
    /// with their original key, value and headers plus
    /// `consumerd.redriven_from`, through an idempotent producer; each one
    /// at most once across calls (``RedriveLedger``). Blocks: call it off the pool.
    public func redriveDeadLetters(of name: String, _ request: RedriveRequest) throws(ConsumerManagerError) -> RedriveReport {
        try refuseInCluster("dead-letter redrives")
        // One at a time per consumer: two at once would both read the
        // ledger before either wrote it, and send the same records twice.
        guard redrivesUnderWay.withLock({ $0.insert(name).inserted }) else {
            throw ConsumerManagerError(.conflict, "a redrive of '\(name)' is already under way")
        }
        defer { redrivesUnderWay.withLock { _ = $0.remove(name) } }
        let spec = try status(name).spec
        let topics = try deadLetterTopics(of: spec)
        let ranges = try deadLetterRanges(topics: topics, partition: request.partition, from: request.fromOffset, to: request.toOffset)
        let ledger = registry.withLock { $0.entries[name]?.redriven } ?? RedriveLedger()
        var report = RedriveReport()
        let (records, _) = try readDeadLetters(spec, ranges: ranges, limit: min(max(1, request.limit), RedriveRequest.maxLimit)) { record in
            (request.errorType == nil || record.errorType == request.errorType) && (request.stage == nil || record.stage == request.stage)
        }
        report.matched = records.count
        let fresh = records.filter { !ledger.contains($0.message.topicPartition, $0.message.offset) }
        report.alreadyRedriven = records.count - fresh.count
        guard !fresh.isEmpty else { return report }

        let sent = Mutex<[String: Result<Void, RedriveFailure>]>([:])
        do {
            let producer = try KafkaProducer(
                config: configuration.producerConfig(for: spec).merging([
                    "enable.idempotence": "true", "acks": "all", "client.id": "consumerd-\(name)-redrive",
                ]),
                logger: logger)
            for record in fresh {
                guard let target = request.topic ?? record.originalTopic else {
                    sent.withLock { $0[record.coordinates] = .failure(RedriveFailure(message: "no consumerd.original.topic header")) }
                    continue
                }
                let headers = record.originalHeaders + [KafkaHeader(name: DeadLetterRecord.redrivenFromHeader, value: Array(record.coordinates.utf8))]
                let coordinates = record.coordinates
                try producer.send(topic: target, key: record.message.key, value: record.message.value, headers: headers) { result in
                    sent.withLock { $0[coordinates] = result.map { _ in () }.mapError { RedriveFailure(message: $0.message) } }
                }
                producer.poll()
            }
            try producer.flush(timeout: .seconds(30))
        } catch {
            report.errors.append("\(error)")
        }
        let outcomes = sent.withLock { $0 }
        var applied = ledger
        for record in fresh {
            switch outcomes[record.coordinates] {
            case .success:
                report.redriven += 1
                applied.insert(record.message.topicPartition, record.message.offset)
            case .failure(let error):
                report.failed += 1
                if report.errors.count < 10 { report.errors.append("\(record.coordinates): \(error.message)") }
            case nil:
                report.failed += 1
            }
        }
        registry.withLock { registry in
            guard var entry = registry.entries[name] else { return }
            for (key, ranges) in applied.ranges {
                entry.redriven.ranges[key] = RedriveLedger.merged((entry.redriven.ranges[key] ?? []) + ranges)
            }
            registry.entries[name] = entry
        }
        try persist(name)
        logger.info("dead letters redriven", metadata: [
            "consumer": "\(name)", "matched": "\(report.matched)", "redriven": "\(report.redriven)",
            "already": "\(report.alreadyRedriven)", "failed": "\(report.failed)",
        ])
        return report
    }

    struct RedriveFailure: Error {
        var message: String
    }

    /// The consumer's dead-letter topics: `{topic}` resolved for each source topic.
    private func deadLetterTopics(of spec: ConsumerSpec) throws(ConsumerManagerError) -> [String] {
        guard let deadLetter = spec.deadLetter else {
            throw ConsumerManagerError(.conflict, "'\(spec.name)' has no dead-letter topic (dead_letter.topic in its spec)")
        }
        guard deadLetter.topic.contains(DeadLetterSpec.sourcePlaceholder) else { return [deadLetter.topic] }
        guard let topics = spec.topics else {
            throw ConsumerManagerError(
                .conflict, "'\(spec.name)' names its dead-letter topics after a pattern's topics ('\(deadLetter.topic)'); list one with kcat")
        }
        return topics.map(deadLetter.topic(for:))
    }

    /// Per dead-letter partition, the offsets to read: [start, end) clamped to the log.
    private func deadLetterRanges(
        topics: [String], partition: Int32?, from: Int64?, to: Int64?
    ) throws(ConsumerManagerError) -> [(partition: TopicPartition, start: Int64, end: Int64)] {
        let admin = try requireAdmin()
        var ranges: [(TopicPartition, Int64, Int64)] = []
        for topic in topics {
            let ids: [Int32]
            do {
                ids = try admin.partitions(of: topic, timeout: Self.adminTimeout)
            } catch where error.code == .unknownTopicOrPartition {
                continue  // Nothing was ever dead-lettered.
            } catch {
                throw Self.clusterFailure(error)
            }
            for id in ids where partition == nil || partition == id {
                let tp = TopicPartition(topic: topic, partition: id)
                do {
                    let (low, high) = try admin.watermarks(tp, timeout: Self.adminTimeout)
                    let start = max(low, from ?? low)
                    let end = min(high, to.map { $0 + 1 } ?? high)
                    if start < end { ranges.append((tp, start, end)) }
                } catch {
                    throw Self.clusterFailure(error)
                }
            }
        }
        return ranges
    }

    /// Reads the ranges with a group-less consumer; stops at `limit` kept
    /// records, when every range is read, or after a time bound.
    private func readDeadLetters(
        _ spec: ConsumerSpec, ranges: [(partition: TopicPartition, start: Int64, end: Int64)], limit: Int,
        keep: (DeadLetterRecord) -> Bool
    ) throws(ConsumerManagerError) -> ([DeadLetterRecord], [TopicPartitionOffset]) {
        guard !ranges.isEmpty else { return ([], []) }
        var ends = Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, $0.end) })
        var nextOffsets = Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, $0.start) })
        var records: [DeadLetterRecord] = []
        do throws(KafkaError) {
            // A group id librdkafka wants for a consumer handle; assign never joins it, nothing commits to it.
            let reader = try KafkaConsumer(
                config: configuration.producerConfig(for: spec).merging([
                    "group.id": "consumerd-\(spec.name)-dead-letter-reader", "client.id": "consumerd-\(spec.name)-dead-letter-reader",
                    "enable.auto.commit": "false", "enable.auto.offset.store": "false", "auto.offset.reset": "earliest",
                ]),
                logger: logger)
            reader.readsHeaders = true
            defer { try? reader.close() }
            try reader.assign(ranges.map { TopicPartitionOffset($0.partition, offset: $0.start) })
            let deadline = ContinuousClock.now + Self.deadLetterReadTimeout
            while !ends.isEmpty, records.count < limit, ContinuousClock.now < deadline {
                guard let message = try reader.poll(timeout: .milliseconds(200)) else { continue }
                let tp = message.topicPartition
                guard let end = ends[tp], message.offset < end else { continue }
                nextOffsets[tp] = message.offset + 1
                if message.offset + 1 >= end { ends[tp] = nil }
                let record = DeadLetterRecord(message)
                if keep(record) { records.append(record) }
            }
        } catch {
            throw Self.clusterFailure(error)
        }
        records.sort { ($0.message.topic, $0.message.partition, $0.message.offset) < ($1.message.topic, $1.message.partition, $1.message.offset) }
        let next = ends.keys.sorted().compactMap { tp in nextOffsets[tp].map { TopicPartitionOffset(tp, offset: $0) } }
        return (records, next)
    }

    static let deadLetterReadTimeout: Duration = .seconds(10)
}
