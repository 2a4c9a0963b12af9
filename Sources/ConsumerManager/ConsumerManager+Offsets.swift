import Foundation
import Kafka
import Sinks

/// Where an operator wants a stopped consumer to resume (KIP-875's reset).
public enum OffsetResetRequest: Sendable, Equatable {
    /// The log start of every partition.
    case earliest
    /// The log end: only records produced from now on.
    case latest
    /// The first record at or after this time (milliseconds since the epoch).
    case timestamp(Int64)
    /// These partitions at these offsets; the others keep theirs.
    case offsets([TopicPartitionOffset])

    var description: String {
        switch self {
        case .earliest: "earliest"
        case .latest: "latest"
        case .timestamp(let ms): "timestamp \(ms)"
        case .offsets: "explicit offsets"
        }
    }
}

/// A reset resolved to offsets when it was asked for, applied by the
/// consumer's next run as a member of its own group: the new member seeks
/// each assigned partition there and commits it through the group
/// coordinator before reading anything. Persisted with the spec until then.
///
/// Why not commit at once from outside the group (Kafka Connect's and
/// `kafka-consumer-groups --reset-offsets`' way)? A commit from a
/// non-member is only accepted for an empty group; a group whose last member
/// left moments ago may not be empty yet (and librdkafka's mock cluster
/// never empties it). Applied by the consumer's own next member, the reset
/// works either way and can never race a member that is still committing.
public struct PendingOffsetReset: Codable, Sendable, Equatable {
    /// What the operator asked for, as they would say it ("timestamp 1795…").
    public var requested: String
    /// ISO 8601.
    public var requestedAt: String
    public var offsets: [Offset]

    public struct Offset: Codable, Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        public var offset: Int64

        var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }
    }

    public func offsets(for partitions: [TopicPartition]) -> [TopicPartition: Int64] {
        let wanted = Set(partitions)
        var result: [TopicPartition: Int64] = [:]
        for entry in offsets where wanted.contains(entry.topicPartition) { result[entry.topicPartition] = entry.offset }
        return result
    }

    /// Forgets the partitions a run has committed.
    mutating func remove(_ applied: [TopicPartition]) {
        let applied = Set(applied)
        offsets.removeAll { applied.contains($0.topicPartition) }
    }

    enum CodingKeys: String, CodingKey {
        case requested, offsets
        case requestedAt = "requested_at"
    }
}

/// One partition of a consumer's topics: the group's view, this server's
/// member's view and the log.
public struct PartitionOffsets: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    /// The group's committed offset (next record to read); `nil`: none yet.
    public var committedOffset: Int64?
    /// The running member's next fetch; `nil` while stopped or unassigned.
    public var position: Int64?
    public var lowWatermark: Int64
    public var highWatermark: Int64
    /// Where a pending reset will start this partition.
    public var pendingOffset: Int64?

    public var lag: Int64 { max(0, highWatermark - max(committedOffset ?? lowWatermark, lowWatermark)) }
}

public struct ConsumerOffsets: Sendable {
    public var name: String
    public var groupID: String
    public var state: ConsumerState
    public var partitions: [PartitionOffsets]
    public var pendingReset: PendingOffsetReset?

    public var totalLag: Int64 { partitions.reduce(0) { $0 + $1.lag } }
}

extension ConsumerManager {
    /// Committed offsets, positions, watermarks and lag of every partition of
    /// the consumer's topics (a pattern consumer: of the topics it is
    /// assigned). Blocks on the cluster: call it off the cooperative pool.
    public func offsets(of name: String) throws(ConsumerManagerError) -> ConsumerOffsets {
        let status = try status(name)
        let pending = registry.withLock { $0.entries[name]?.pendingReset }
        let admin = try requireAdmin()
        let positions = Dictionary(
            status.partitions.map { (TopicPartition(topic: $0.topic, partition: $0.partition), $0.position) },
            uniquingKeysWith: { first, _ in first })
        let partitions = try topicPartitions(of: status.spec, assigned: Array(positions.keys), admin: admin)
        let pendingOffsets = pending?.offsets(for: partitions) ?? [:]
        var result: [PartitionOffsets] = []
        do {
            let committed = try admin.committedOffsets(group: status.spec.groupID, partitions: partitions, timeout: Self.adminTimeout)
            for entry in committed {
                let (low, high) = try admin.watermarks(entry.topicPartition, timeout: Self.adminTimeout)
                result.append(PartitionOffsets(
                    topic: entry.topic, partition: entry.partition, committedOffset: entry.offset,
                    position: positions[entry.topicPartition] ?? nil, lowWatermark: low, highWatermark: high,
                    pendingOffset: pendingOffsets[entry.topicPartition]))
            }
        } catch {
            throw Self.clusterFailure(error)
        }
        return ConsumerOffsets(name: name, groupID: status.spec.groupID, state: status.state, partitions: result, pendingReset: pending)
    }

    /// Resolves a reset to offsets now and keeps it for the consumer's next
    /// run (see ``PendingOffsetReset``). Only while the consumer is stopped;
    /// refused for sinks that keep their own offsets, which would override it.
    /// Blocks on the cluster: call it off the cooperative pool.
    public func resetOffsets(of name: String, to request: OffsetResetRequest) throws(ConsumerManagerError) -> ConsumerOffsets {
        try refuseInCluster("offset resets")
        let spec = try stoppedSpec(name)
        if spec.sink.commits == .sinkStoresOffsets {
            throw ConsumerManagerError(
                .conflict,
                "'\(name)' writes to a \(spec.sink.type) sink that keeps its own offsets with the data (exactly-once) and resumes from them; a group offset reset would be ignored. Reset the offsets stored in the sink instead")
        }
        let admin = try requireAdmin()
        let partitions = try topicPartitions(of: spec, assigned: [], admin: admin)
        let offsets = try resolve(request, partitions: partitions, admin: admin)
        let reset = PendingOffsetReset(
            requested: request.description, requestedAt: Date().ISO8601Format(),
            offsets: offsets.map { .init(topic: $0.topic, partition: $0.partition, offset: $0.offset ?? 0) })
        // Started while the cluster was asked? Then the reset is refused, not half-applied.
        let stored: Result<Void, ConsumerManagerError> = registry.withLock { registry in
            guard var entry = registry.entries[name] else { return .failure(.notFound(name)) }
            if let refusal = Self.resetRefusal(entry, name: name) { return .failure(refusal) }
            entry.pendingReset = reset
            registry.entries[name] = entry
            return .success(())
        }
        try stored.get()
        try persist(name)
        logger.info("offset reset stored for the next start", metadata: ["consumer": "\(name)", "reset": "\(reset.requested)", "offsets": "\(offsets)"])
        return try self.offsets(of: name)
    }

    /// The consumer's run applied the reset to these partitions.
    func offsetResetApplied(_ name: String, generation: Int, partitions: [TopicPartition]) {
        let changed = registry.withLock { registry -> Bool in
            guard var entry = registry.entries[name], entry.lifecycle.generation == generation, var reset = entry.pendingReset else { return false }
            reset.remove(partitions)
            entry.pendingReset = reset.offsets.isEmpty ? nil : reset
            registry.entries[name] = entry
            return true
        }
        guard changed else { return }
        do {
            try persist(name)
        } catch {
            // The run has committed the offsets; a reset kept on disk would
            // only be applied again at the next start, at the same offsets.
            logger.warning("the applied offset reset could not be removed from the spec file", metadata: ["consumer": "\(name)", "error": "\(error)"])
        }
    }

    static let adminTimeout: Duration = .seconds(5)

    private func stoppedSpec(_ name: String) throws(ConsumerManagerError) -> ConsumerSpec {
        let found: Result<ConsumerSpec, ConsumerManagerError> = registry.withLock { registry in
            guard let entry = registry.entries[name] else { return .failure(.notFound(name)) }
            if let refusal = Self.resetRefusal(entry, name: name) { return .failure(refusal) }
            return .success(entry.spec)
        }
        return try found.get()
    }

    private static func resetRefusal(_ entry: Entry, name: String) -> ConsumerManagerError? {
        if entry.deleting { return ConsumerManagerError(.conflict, "'\(name)' is being deleted") }
        guard entry.isActive || entry.desired != .stopped else { return nil }
        let now = entry.isActive ? "has a run" : "is to be \(entry.desired.rawValue)"
        return ConsumerManagerError(
            .conflict, "'\(name)' \(now): offsets can only be changed while the consumer is stopped (POST /consumers/\(name)/stop)")
    }

    func requireAdmin() throws(ConsumerManagerError) -> KafkaAdmin {
        guard let admin else { throw ConsumerManagerError(.kafkaUnavailable, "no Kafka admin client could be created (see the server log)") }
        return admin
    }

    /// The spec's topics; for a pattern subscription, the topics the running member is assigned.
    private func topicPartitions(of spec: ConsumerSpec, assigned: [TopicPartition], admin: KafkaAdmin) throws(ConsumerManagerError) -> [TopicPartition] {
        guard let topics = spec.topics else {
            if assigned.isEmpty {
                throw ConsumerManagerError(
                    .conflict, "'\(spec.name)' subscribes to a pattern; its topics are known only while it runs")
            }
            return assigned.sorted()
        }
        var partitions: [TopicPartition] = []
        for topic in topics {
            do {
                partitions += try admin.partitions(of: topic, timeout: Self.adminTimeout).map { TopicPartition(topic: topic, partition: $0) }
            } catch {
                throw Self.clusterFailure(error)
            }
        }
        return partitions
    }

    private func resolve(
        _ request: OffsetResetRequest, partitions: [TopicPartition], admin: KafkaAdmin
    ) throws(ConsumerManagerError) -> [TopicPartitionOffset] {
        do {
            switch request {
            case .earliest, .latest:
                return try partitions.map { partition throws(KafkaError) in
                    let (low, high) = try admin.watermarks(partition, timeout: Self.adminTimeout)
                    return TopicPartitionOffset(partition, offset: request == .earliest ? low : high)
                }
            case .timestamp(let ms):
                let found = try admin.offsets(atTimestamp: ms, of: partitions, timeout: Self.adminTimeout)
                return try found.map { entry throws(KafkaError) in
                    // No record that late: start at the log end.
                    if entry.offset != nil { return entry }
                    return TopicPartitionOffset(entry.topicPartition, offset: try admin.watermarks(entry.topicPartition, timeout: Self.adminTimeout).high)
                }
            case .offsets(let wanted):
                let known = Set(partitions)
                for (index, entry) in wanted.enumerated() {
                    guard known.contains(entry.topicPartition) else {
                        throw ConsumerManagerError(
                            .invalidRequest, "\(entry.topicPartition) is not a partition of the consumer's topics", field: "offsets[\(index)]")
                    }
                    let (low, high) = try admin.watermarks(entry.topicPartition, timeout: Self.adminTimeout)
                    guard let offset = entry.offset, (low...high).contains(offset) else {
                        throw ConsumerManagerError(
                            .invalidRequest,
                            "\(entry.topicPartition) holds offsets \(low) to \(high) (the log end); \(entry.offset.map(String.init) ?? "none") is outside",
                            field: "offsets[\(index)].offset")
                    }
                }
                return wanted
            }
        } catch let error as KafkaError {
            throw Self.clusterFailure(error)
        } catch let error as ConsumerManagerError {
            throw error
        } catch {
            throw ConsumerManagerError(.kafkaUnavailable, "\(error)")
        }
    }

    static func clusterFailure(_ error: KafkaError) -> ConsumerManagerError {
        ConsumerManagerError(.kafkaUnavailable, "the Kafka cluster did not answer: \(error.message)")
    }
}
