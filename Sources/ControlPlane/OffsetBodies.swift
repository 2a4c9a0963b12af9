import ConsumerManager
import DataModel
import Kafka

/// `PATCH /consumers/{name}/offsets`: exactly one of `reset_to` and `offsets`.
public struct OffsetsPatchBody: Codable, Sendable {
    public enum ResetTo: Codable, Sendable, Equatable {
        case earliest
        case latest
        case timestamp(milliseconds: Int64)

        public init(from decoder: any Decoder) throws {
            if let word = try? decoder.singleValueContainer().decode(String.self) {
                switch word {
                case "earliest": self = .earliest
                case "latest": self = .latest
                default:
                    throw DecodingError.dataCorrupted(.init(
                        codingPath: decoder.codingPath,
                        debugDescription: "unsupported value '\(word)' (expected earliest, latest or {\"timestamp_ms\": …})"))
                }
                return
            }
            try decoder.rejectUnknownKeys(TimestampKeys.self)
            let container = try decoder.container(keyedBy: TimestampKeys.self)
            let milliseconds = try container.decode(Int64.self, forKey: .timestampMs)
            guard milliseconds >= 0 else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: container.codingPath + [TimestampKeys.timestampMs], debugDescription: "must be at least 0"))
            }
            self = .timestamp(milliseconds: milliseconds)
        }

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .earliest:
                var container = encoder.singleValueContainer()
                try container.encode("earliest")
            case .latest:
                var container = encoder.singleValueContainer()
                try container.encode("latest")
            case .timestamp(let milliseconds):
                var container = encoder.container(keyedBy: TimestampKeys.self)
                try container.encode(milliseconds, forKey: .timestampMs)
            }
        }

        enum TimestampKeys: String, CodingKey, CaseIterable {
            case timestampMs = "timestamp_ms"
        }
    }

    public var resetTo: ResetTo?
    public var offsets: [OffsetBody]?

    public init(resetTo: ResetTo? = nil, offsets: [OffsetBody]? = nil) {
        self.resetTo = resetTo
        self.offsets = offsets
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        resetTo = try container.decodeUnlessAbsent(ResetTo.self, forKey: .resetTo)
        offsets = try container.decodeUnlessAbsent([OffsetBody].self, forKey: .offsets)
        guard (resetTo == nil) != (offsets == nil) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: [CodingKeys.resetTo], debugDescription: "give exactly one of reset_to and offsets"))
        }
        if let offsets {
            guard !offsets.isEmpty, offsets.count <= Self.maxOffsets else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: [CodingKeys.offsets], debugDescription: "must list 1 to \(Self.maxOffsets) partitions"))
            }
            var seen = Set<TopicPartition>()
            for (index, entry) in offsets.enumerated() where !seen.insert(entry.topicPartition).inserted {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: [CodingKeys.offsets, AnyCodingKey(intValue: index)], debugDescription: "lists \(entry.topicPartition) twice"))
            }
        }
    }

    static let maxOffsets = 10_000

    /// What the manager is asked to do.
    var request: OffsetResetRequest {
        switch resetTo {
        case .earliest: .earliest
        case .latest: .latest
        case .timestamp(let milliseconds): .timestamp(milliseconds)
        case nil: .offsets((offsets ?? []).map { TopicPartitionOffset($0.topicPartition, offset: $0.offset) })
        }
    }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case offsets
        case resetTo = "reset_to"
    }
}

public struct OffsetBody: Codable, Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        topic = try container.decode(String.self, forKey: .topic)
        partition = try container.decode(Int32.self, forKey: .partition)
        offset = try container.decode(Int64.self, forKey: .offset)
        guard partition >= 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.partition], debugDescription: "must be at least 0"))
        }
        guard offset >= 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.offset], debugDescription: "must be at least 0"))
        }
    }

    var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case topic, partition, offset
    }
}

/// `GET /consumers/{name}/offsets` and the answer to a reset.
public struct OffsetsBody: Codable, Sendable {
    public var name: String
    public var groupID: String
    public var state: String
    public var lagTotal: Int64
    public var partitions: [PartitionOffsetsBody]
    @Nullable public var pendingReset: PendingResetBody?

    init(_ offsets: ConsumerOffsets) {
        name = offsets.name
        groupID = offsets.groupID
        state = offsets.state.rawValue
        lagTotal = offsets.totalLag
        partitions = offsets.partitions.map(PartitionOffsetsBody.init)
        pendingReset = offsets.pendingReset.map(PendingResetBody.init)
    }

    public enum CodingKeys: String, CodingKey {
        case name, state, partitions
        case groupID = "group_id"
        case lagTotal = "lag_total"
        case pendingReset = "pending_reset"
    }
}

public struct PartitionOffsetsBody: Codable, Sendable {
    public var topic: String
    public var partition: Int32
    @Nullable public var committedOffset: Int64?
    @Nullable public var position: Int64?
    public var lowWatermark: Int64
    public var highWatermark: Int64
    public var lag: Int64
    @Nullable public var pendingOffset: Int64?

    init(_ offsets: PartitionOffsets) {
        topic = offsets.topic
        partition = offsets.partition
        committedOffset = offsets.committedOffset
        position = offsets.position
        lowWatermark = offsets.lowWatermark
        highWatermark = offsets.highWatermark
        lag = offsets.lag
        pendingOffset = offsets.pendingOffset
    }

    public enum CodingKeys: String, CodingKey {
        case topic, partition, position, lag
        case committedOffset = "committed_offset"
        case lowWatermark = "low_watermark"
        case highWatermark = "high_watermark"
        case pendingOffset = "pending_offset"
    }
}

/// A reset waiting for the consumer's next start.
public struct PendingResetBody: Codable, Sendable {
    public var requested: String
    public var requestedAt: String
    public var offsets: [OffsetBody]

    init(_ reset: PendingOffsetReset) {
        requested = reset.requested
        requestedAt = reset.requestedAt
        offsets = reset.offsets.map { OffsetBody(topic: $0.topic, partition: $0.partition, offset: $0.offset) }
    }

    public enum CodingKeys: String, CodingKey {
        case requested, offsets
        case requestedAt = "requested_at"
    }
}
