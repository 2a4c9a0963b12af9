import Foundation
import Kafka
import Logging
import Synchronization

/// The cluster's two compacted topics, as one instance sees them.
///
/// - The config topic holds every consumer's ``ClusterRecord``. Each
///   instance reads it from the beginning at start (``catchUp()``) and then
///   follows it on a thread of its own, handing every record, in topic
///   order, to `apply`, its own records included: a REST call produces a
///   record and answers once this instance has applied it (``publish``).
/// - The status topic holds each instance's view of each consumer (state,
///   partitions, lag), refreshed every health interval; any instance shows
///   every member's from it.
final class ClusterLog: @unchecked Sendable {
    struct Settings: Sendable {
        var clusterID: String
        var instance: String
        var configTopic: String
        var statusTopic: String
        var kafka: KafkaConfig
        var codec: ClusterRecordCodec
    }

    /// What happened to a published record when this instance read it back.
    enum Outcome: Sendable, Equatable {
        case applied
        /// Another writer's record for the same consumer came first.
        case conflict(current: Int)
    }

    let settings: Settings
    private let logger: Logger
    private let producer: KafkaProducer
    private let follower: KafkaConsumer
    /// Called on the follower thread for each config record (`nil`: a
    /// tombstone); returns the outcome for the record's writer.
    private let apply: @Sendable (String, ClusterRecord?) -> Outcome
    private let state = Mutex<FollowState>(FollowState())
    private var thread: Thread?

    static let publishTimeout: Duration = .seconds(15)

    private struct FollowState {
        /// Per config partition, the next offset to be applied.
        var applied: [Int32: Int64] = [:]
        /// Outcomes of records read back, by partition and offset (pruned).
        var outcomes: [TopicPartitionOffset: Outcome] = [:]
        /// The latest status record per key, and when it arrived here.
        var statuses: [String: (status: MemberStatus, receivedAt: ContinuousClock.Instant)] = [:]
        var stopping = false
        var lastStatus: ContinuousClock.Instant?
        /// Consumers this instance last published a status for.
        var published: Set<String> = []
    }

    init(settings: Settings, logger: Logger, apply: @escaping @Sendable (String, ClusterRecord?) -> Outcome) throws(ConsumerManagerError) {
        self.settings = settings
        self.logger = logger
        self.apply = apply
        do {
            producer = try KafkaProducer(
                config: settings.kafka.merging([
                    "enable.idempotence": "true", "acks": "all", "linger.ms": "0",
                    "client.id": "consumerd-\(settings.clusterID)-\(settings.instance)",
                ]), logger: logger)
            // assign() never joins this group and nothing commits to it; librdkafka wants the id.
            follower = try KafkaConsumer(
                config: settings.kafka.merging([
                    "group.id": "consumerd-\(settings.clusterID)-\(settings.instance)-follower",
                    "client.id": "consumerd-\(settings.clusterID)-\(settings.instance)-follower",
                    "enable.auto.commit": "false", "enable.auto.offset.store": "false", "auto.offset.reset": "earliest",
                    "fetch.wait.max.ms": "50",
                ]), logger: logger)
        } catch {
            throw ConsumerManagerError(.kafkaUnavailable, "cluster \(settings.clusterID): \(error)")
        }
    }

    // MARK: Start

    /// Creates the topics if missing (compacted, one partition: one order
    /// for every record), reads the config topic to its end, applying each
    /// record, and starts following. Throws when a record cannot be read
    /// (sealed without the key, secrets in plain text): the instance must
    /// not run with a partial registry.
    func catchUp(admin: KafkaAdmin) throws(ConsumerManagerError) {
        var createTopicsAnswers = true
        for topic in [settings.configTopic, settings.statusTopic] {
            do {
                guard try !admin.topicExists(topic), createTopicsAnswers else { continue }
                try admin.createTopic(
                    topic, partitions: 1, config: ["cleanup.policy": "compact", "min.compaction.lag.ms": "60000"], timeout: .seconds(5))
                logger.info("created cluster topic", metadata: ["topic": "\(topic)"])
            } catch where error.code == .topicAlreadyExists {
            } catch where error.code == .timedOut {
                // librdkafka's mock cluster does not answer CreateTopics; a
                // broker that auto-creates topics makes it on first use.
                createTopicsAnswers = false
                logger.warning(
                    "the cluster did not create the topic; using it as the broker auto-creates it (make it compacted)",
                    metadata: ["topic": "\(topic)"])
            } catch {
                throw ConsumerManagerError(.kafkaUnavailable, "cluster topic \(topic): \(error)")
            }
        }
        let ends: [(TopicPartition, Int64)]
        do throws(KafkaError) {
            var found: [(TopicPartition, Int64)] = []
            for topic in [settings.configTopic, settings.statusTopic] {
                for partition in try admin.partitions(of: topic) {
                    let tp = TopicPartition(topic: topic, partition: partition)
                    found.append((tp, try admin.watermarks(tp).high))
                }
            }
            ends = found
            try follower.assign(ends.map { TopicPartitionOffset($0.0, offset: TopicPartitionOffset.beginning) })
            state.withLock { state in
                for (tp, _) in ends where tp.topic == settings.configTopic { state.applied[tp.partition] = 0 }
            }
        } catch {
            throw ConsumerManagerError(.kafkaUnavailable, "cluster topics: \(error)")
        }
        // Read up to where the topics ended when we looked: the registry as it was then.
        let deadline = ContinuousClock.now + .seconds(60)
        while !caughtUp(ends) {
            guard ContinuousClock.now < deadline else {
                throw ConsumerManagerError(.kafkaUnavailable, "cluster \(settings.clusterID): the config topic did not catch up within 60 s")
            }
            if let failure = try pollOnce(timeout: .milliseconds(200), fatal: true) {
                throw ConsumerManagerError(.persistence, failure)
            }
        }
        thread = Thread.start(named: "consumerd-cluster") { [self] in follow() }
    }

    private func caughtUp(_ ends: [(TopicPartition, Int64)]) -> Bool {
        state.withLock { state in
            ends.allSatisfy { tp, end in tp.topic != settings.configTopic || (state.applied[tp.partition] ?? 0) >= end }
        }
    }

    private func follow() {
        while !state.withLock({ $0.stopping }) {
            _ = try? pollOnce(timeout: .milliseconds(500), fatal: false)
        }
    }

    /// Reads one record and applies it. `fatal`: an unreadable config record
    /// is returned (at start); afterwards it is logged and skipped, as every
    /// instance skips it.
    private func pollOnce(timeout: Duration, fatal: Bool) throws(ConsumerManagerError) -> String? {
        let message: KafkaMessage?
        do {
            message = try follower.poll(timeout: timeout)
        } catch {
            logger.warning("cluster follower", metadata: ["error": "\(error)"])
            return nil
        }
        guard let message, let keyBytes = message.key else { return nil }
        let key = String(decoding: keyBytes, as: UTF8.self)
        if message.topic == settings.statusTopic {
            receiveStatus(key: key, value: message.value)
            return nil
        }
        var outcome = Outcome.applied
        if let value = message.value {
            do {
                outcome = apply(key, try settings.codec.decode(value, key: key))
            } catch {
                if fatal { return error.description }
                logger.error("skipping an unreadable cluster record", metadata: ["consumer": "\(key)", "error": "\(error)"])
            }
        } else {
            outcome = apply(key, nil)
        }
        state.withLock { state in
            state.applied[message.partition] = message.offset + 1
            state.outcomes[TopicPartitionOffset(message.topicPartition, offset: message.offset)] = outcome
            if state.outcomes.count > 10_000 { state.outcomes.removeAll() }
        }
        return nil
    }

    func stop() {
        state.withLock { $0.stopping = true }
        follower.wake()
        while thread?.isFinished == false { Thread.sleep(forTimeInterval: 0.01) }
        try? follower.close()
        try? producer.flush(timeout: .seconds(5))
    }

    // MARK: Publishing

    /// Waits until every record in the config topic when called has been
    /// applied here.
    func sync() throws(ConsumerManagerError) {
        let partitions = state.withLock { Array($0.applied.keys) }.map { TopicPartition(topic: settings.configTopic, partition: $0) }
        let ends: [TopicPartitionOffset]
        do {
            ends = try follower.queryHighWatermarks(partitions, timeout: .seconds(5))
        } catch {
            throw ConsumerManagerError(.kafkaUnavailable, "cluster config topic: \(error)")
        }
        let deadline = ContinuousClock.now + Self.publishTimeout
        while ContinuousClock.now < deadline {
            let behind = state.withLock { state in
                ends.contains { end in (state.applied[end.partition] ?? 0) < (end.offset ?? 0) }
            }
            if !behind { return }
            Thread.sleep(forTimeInterval: 0.005)
        }
        throw ConsumerManagerError(.kafkaUnavailable, "cluster: this instance did not catch up with the config topic within \(Self.publishTimeout)")
    }

    /// Produces a consumer's record (`nil`: a tombstone) and waits until this
    /// instance has read it back and applied it.
    func publish(_ name: String, _ record: ClusterRecord?) throws(ConsumerManagerError) -> Outcome {
        let value = try record.map { record throws(ConsumerManagerError) in try settings.codec.encode(record, key: name) }
        let delivered = Mutex<Result<TopicPartitionOffset, KafkaError>?>(nil)
        do {
            try producer.send(topic: settings.configTopic, key: Array(name.utf8), value: value) { result in
                delivered.withLock { $0 = result }
            }
        } catch {
            throw ConsumerManagerError(.kafkaUnavailable, "cluster config topic: \(error)")
        }
        let deadline = ContinuousClock.now + Self.publishTimeout
        var position: TopicPartitionOffset?
        while position == nil {
            producer.poll(timeout: .milliseconds(20))
            switch delivered.withLock({ $0 }) {
            case .success(let offset)?: position = offset
            case .failure(let error)?: throw ConsumerManagerError(.kafkaUnavailable, "cluster config topic: \(error)")
            case nil:
                guard ContinuousClock.now < deadline else {
                    throw ConsumerManagerError(.kafkaUnavailable, "cluster config topic: no acknowledgement within \(Self.publishTimeout)")
                }
            }
        }
        guard let position else { throw ConsumerManagerError(.kafkaUnavailable, "cluster config topic: no offset") }
        while ContinuousClock.now < deadline {
            if let outcome = state.withLock({ $0.outcomes[position] }) { return outcome }
            Thread.sleep(forTimeInterval: 0.005)
        }
        throw ConsumerManagerError(.kafkaUnavailable, "cluster: the change was written but not read back within \(Self.publishTimeout)")
    }

    // MARK: Member status

    /// This instance's view of one consumer, published for the others.
    struct MemberStatus: Codable, Sendable, Equatable {
        var instance: String
        var consumer: String
        var state: String
        var generation: Int
        var assignment: [ConsumerManager.MemberPartition]
        var updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case instance, consumer, state, generation, assignment
            case updatedAt = "updated_at"
        }
    }


    private static var statusEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// Whether `interval` has passed since the last status was published (and it is now due).
    func statusDue(every interval: Duration) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { state in
            if let last = state.lastStatus, now - last < interval { return false }
            state.lastStatus = now
            return true
        }
    }

    /// Publishes this instance's status of each consumer, and tombstones
    /// for consumers it no longer has.
    func publishStatus(_ statuses: [MemberStatus]) {
        let names = Set(statuses.map(\.consumer))
        let removed = state.withLock { state in
            defer { state.published = names }
            return state.published.subtracting(names)
        }
        let encoder = Self.statusEncoder
        for status in statuses {
            guard let value = try? encoder.encode(status) else { continue }
            try? producer.send(topic: settings.statusTopic, key: Array("\(settings.instance)/\(status.consumer)".utf8), value: Array(value))
        }
        for name in removed {
            try? producer.send(topic: settings.statusTopic, key: Array("\(settings.instance)/\(name)".utf8), value: nil)
        }
        producer.poll()
    }

    private func receiveStatus(key: String, value: [UInt8]?) {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let status = value.flatMap { try? decoder.decode(MemberStatus.self, from: Data($0)) }
        state.withLock { state in
            state.statuses[key] = status.map { ($0, ContinuousClock.now) }
        }
    }

    /// Members heard from within `freshness`, per consumer.
    func members(of consumer: String, freshness: Duration) -> [MemberStatus] {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.statuses.values.filter { $0.status.consumer == consumer && now - $0.receivedAt <= freshness }.map(\.status)
        }.sorted { $0.instance < $1.instance }
    }

    /// Instances heard from within `freshness`, with when each was last heard.
    func instances(freshness: Duration) -> [String] {
        let now = ContinuousClock.now
        return state.withLock { state in
            Set(state.statuses.values.filter { now - $0.receivedAt <= freshness }.map(\.status.instance))
        }.sorted()
    }
}
