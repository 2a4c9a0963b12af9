import ConsumerManager
import DataModel
import Kafka

/// `GET /consumers/{name}/dead-letters`: one page of the dead-letter topic.
public struct DeadLettersBody: Codable, Sendable {
    public var name: String
    public var topics: [String]
    public var count: Int
    public var records: [DeadLetterBody]
    /// Where the next page starts, per partition not yet read to its end.
    public var next: [OffsetBody]

    init(name: String, _ page: DeadLetterPage) {
        self.name = name
        topics = page.topics
        count = page.records.count
        records = page.records.map(DeadLetterBody.init)
        next = page.next.map { OffsetBody(topic: $0.topic, partition: $0.partition, offset: $0.offset ?? 0) }
    }
}

public struct DeadLetterBody: Codable, Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    @Nullable public var timestampMs: Int64?
    @Nullable public var key: EncodedBytes?
    @Nullable public var value: EncodedBytes?
    /// The record's own headers (consumerd's context headers are decoded below).
    public var headers: [HeaderBody]
    @Nullable public var stage: String?
    @Nullable public var errorType: String?
    @Nullable public var errorMessage: String?
    @Nullable public var original: OffsetBody?
    @Nullable public var failedAt: String?
    @Nullable public var attempts: Int?
    @Nullable public var redrivenFrom: String?

    init(_ record: DeadLetterRecord) {
        topic = record.message.topic
        partition = record.message.partition
        offset = record.message.offset
        timestampMs = record.message.timestamp
        key = record.message.key.map(EncodedBytes.init)
        value = record.message.value.map(EncodedBytes.init)
        headers = record.originalHeaders.map { HeaderBody(name: $0.name, value: $0.value.map(EncodedBytes.init)) }
        stage = record.stage
        errorType = record.errorType
        errorMessage = record.errorMessage
        if let topic = record.originalTopic, let partition = record.originalPartition, let offset = record.originalOffset {
            original = OffsetBody(topic: topic, partition: partition, offset: offset)
        }
        failedAt = record.failedAt
        attempts = record.attempts
        redrivenFrom = record.redrivenFrom
    }

    public enum CodingKeys: String, CodingKey {
        case topic, partition, offset, key, value, headers, stage, original, attempts
        case timestampMs = "timestamp_ms"
        case errorType = "error_type"
        case errorMessage = "error_message"
        case failedAt = "failed_at"
        case redrivenFrom = "redriven_from"
    }
}

/// Bytes as text when they are UTF-8, else base64.
public struct EncodedBytes: Codable, Sendable, Equatable {
    public var data: String
    /// `utf8` or `base64`.
    public var encoding: String

    init(_ bytes: [UInt8]) {
        if UTF8Validation.isValid(bytes) {
            data = String(decoding: bytes, as: UTF8.self)
            encoding = "utf8"
        } else {
            data = Base64.encode(bytes)
            encoding = "base64"
        }
    }
}

public struct HeaderBody: Codable, Sendable {
    public var name: String
    @Nullable public var value: EncodedBytes?
}

/// `POST /consumers/{name}/dead-letters/redrive`: which dead letters to send back. Every field is optional.
public struct RedriveBody: Codable, Sendable {
    public var partition: Int32?
    public var fromOffset: Int64?
    public var toOffset: Int64?
    public var errorType: String?
    public var stage: String?
    public var topic: String?
    public var limit: Int?

    public init(
        partition: Int32? = nil, fromOffset: Int64? = nil, toOffset: Int64? = nil, errorType: String? = nil, stage: String? = nil,
        topic: String? = nil, limit: Int? = nil
    ) {
        self.partition = partition
        self.fromOffset = fromOffset
        self.toOffset = toOffset
        self.errorType = errorType
        self.stage = stage
        self.topic = topic
        self.limit = limit
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        partition = try container.decodeUnlessAbsent(Int32.self, forKey: .partition)
        fromOffset = try container.decodeUnlessAbsent(Int64.self, forKey: .fromOffset)
        toOffset = try container.decodeUnlessAbsent(Int64.self, forKey: .toOffset)
        errorType = try container.decodeUnlessAbsent(String.self, forKey: .errorType)
        stage = try container.decodeUnlessAbsent(String.self, forKey: .stage)
        topic = try container.decodeUnlessAbsent(String.self, forKey: .topic)
        limit = try container.decodeUnlessAbsent(Int.self, forKey: .limit)
        func refuse(_ key: CodingKeys, _ message: String) -> DecodingError {
            DecodingError.dataCorrupted(.init(codingPath: [key], debugDescription: message))
        }
        if let partition, partition < 0 { throw refuse(.partition, "must be at least 0") }
        if let fromOffset, fromOffset < 0 { throw refuse(.fromOffset, "must be at least 0") }
        if let toOffset, toOffset < (fromOffset ?? 0) { throw refuse(.toOffset, "must be at least from_offset (both inclusive)") }
        if let limit, !(1...RedriveRequest.maxLimit).contains(limit) { throw refuse(.limit, "must be between 1 and \(RedriveRequest.maxLimit)") }
        if let topic, !TopicPattern.isValidTopicName(topic) { throw refuse(.topic, "'\(topic)' is not a valid topic name") }
    }

    var request: RedriveRequest {
        RedriveRequest(
            partition: partition, fromOffset: fromOffset, toOffset: toOffset, errorType: errorType, stage: stage, topic: topic,
            limit: limit ?? 10_000)
    }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case partition, stage, topic, limit
        case fromOffset = "from_offset"
        case toOffset = "to_offset"
        case errorType = "error_type"
    }
}

public struct RedriveReportBody: Codable, Sendable {
    public var matched: Int
    public var redriven: Int
    public var alreadyRedriven: Int
    public var failed: Int
    public var errors: [String]

    init(_ report: RedriveReport) {
        matched = report.matched
        redriven = report.redriven
        alreadyRedriven = report.alreadyRedriven
        failed = report.failed
        errors = report.errors
    }

    public enum CodingKeys: String, CodingKey {
        case matched, redriven, failed, errors
        case alreadyRedriven = "already_redriven"
    }
}
