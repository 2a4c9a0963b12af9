import DataModel
import HTTPClient
import Kafka
import Logging
import Pipeline

/// `{"type": "http", "url": "https://ingest.example/v1/events", "format": "ndjson"}`:
/// each batch POSTed as JSON, at least once.
///
/// The body is the sink's JSON Lines (`ndjson`, `application/x-ndjson`) or
/// one JSON array of the same objects (`array`). Every request carries an
/// `Idempotency-Key` derived from the consumer and the batch's offset
/// ranges, the same on every retry of the batch, so a receiver can drop
/// repeats. 2xx: written. 408, 429, 5xx and connection errors: retried with
/// the consumer's backoff. 400, 413 and 422 for a batch: its records are
/// posted one by one, and those refused alone are dead-lettered.
public struct HTTPSinkSpec: SinkSpec {
    public static let type = "http"
    public var readsRecordFields: Bool { false }

    public enum Format: String, Sendable, Codable, CaseIterable {
        case ndjson, array
    }

    public var url: String
    public var format: Format
    /// Sent as `Authorization: Bearer …`; a secret.
    public var bearerToken: String?
    public var timeoutMilliseconds: Int

    public init(url: String, format: Format = .ndjson, bearerToken: String? = nil, timeoutMilliseconds: Int = 10_000) {
        self.url = url
        self.format = format
        self.bearerToken = bearerToken
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, url, format
        case bearerToken = "bearer_token"
        case timeoutMilliseconds = "timeout_ms"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            url: try container.decode(String.self, forKey: .url),
            format: try container.decodeEnumIfPresent(Format.self, forKey: .format) ?? .ndjson,
            bearerToken: try container.decodeUnlessAbsent(String.self, forKey: .bearerToken),
            timeoutMilliseconds: try container.decodeUnlessAbsent(Int.self, forKey: .timeoutMilliseconds) ?? 10_000)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
        try container.encode(url, forKey: .url)
        try container.encode(format, forKey: .format)
        try container.encodeIfPresent(bearerToken, forKey: .bearerToken)
        try container.encode(timeoutMilliseconds, forKey: .timeoutMilliseconds)
    }

    public func validate() throws(SpecError) {
        guard HTTPClient.isAcceptable(url, maxBytes: 2048) else {
            throw SpecError("url", "must be an http:// or https:// URL of at most 2048 bytes")
        }
        if let bearerToken {
            guard !bearerToken.isEmpty, bearerToken.utf8.count <= 4096, bearerToken.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw SpecError("bearer_token", "must be 1-4096 printable ASCII characters")
            }
        }
        guard (100...300_000).contains(timeoutMilliseconds) else { throw SpecError("timeout_ms", "must be between 100 and 300000") }
    }

    public func target(in context: SinkContext) -> String { HTTPClient.describe(url) }
    public func redacted() -> HTTPSinkSpec {
        var copy = self
        if bearerToken != nil { copy.bearerToken = maskedSecret }
        return copy
    }
    public func restoringSecrets(from previous: HTTPSinkSpec) -> HTTPSinkSpec {
        var copy = self
        if bearerToken == maskedSecret { copy.bearerToken = previous.bearerToken }
        return copy
    }
    public var holdsMaskedSecret: Bool { bearerToken == maskedSecret }

    public func makeSink(in context: SinkContext) throws(PipelineError) -> any Sink {
        HTTPSink(spec: self, consumer: context.consumer, logger: context.logger)
    }
}

/// POSTs batches; see ``HTTPSinkSpec``.
public final class HTTPSink: Sink {
    public let kind = HTTPSinkSpec.type
    public let target: String
    public let commits = SinkCommits.consumer
    private let spec: HTTPSinkSpec
    private let consumer: String
    private let logger: Logger
    private let client = HTTPClient()
    private var body: [UInt8] = []
    /// Statuses that say the records themselves are wrong.
    static let refusals: Set<Int> = [400, 413, 422]

    init(spec: HTTPSinkSpec, consumer: String, logger: Logger) {
        self.spec = spec
        self.target = HTTPClient.describe(spec.url)
        self.consumer = consumer
        self.logger = logger
    }

    public func write(_ batch: SinkBatch) throws(PipelineError) -> SinkWriteResult {
        guard !batch.records.isEmpty else { return .written }
        let status = try post(batch.records[...])
        if (200..<300).contains(status) { return .written }
        guard Self.refusals.contains(status) else { throw unavailable(status) }
        // Find the refused records: each alone. Those accepted are written.
        var rejected: [RejectedRecord] = []
        for index in batch.records.indices {
            let single = try post(batch.records[index...index])
            if (200..<300).contains(single) { continue }
            guard Self.refusals.contains(single) else { throw unavailable(single) }
            rejected.append(RejectedRecord(index: index, reason: "http_\(single)", message: "\(target) answered \(single) for this record"))
        }
        if rejected.isEmpty {
            // Refused together, accepted one by one: now all written.
            logger.warning("the batch was refused but every record alone was accepted", metadata: ["status": "\(status)"])
            return .written
        }
        return .writtenExcept(rejected)
    }

    private func unavailable(_ status: Int) -> PipelineError {
        PipelineError(stage: .sink, message: "http sink \(target): HTTP \(status)", isRetriable: true, reason: "http_\(status)")
    }

    /// POSTs the records; returns the HTTP status.
    private func post(_ records: ArraySlice<Record>) throws(PipelineError) -> Int {
        encode(records)
        var headers = [
            ("Content-Type", spec.format == .ndjson ? "application/x-ndjson" : "application/json"),
            ("Idempotency-Key", idempotencyKey(records)),
            ("User-Agent", "consumerd"),
        ]
        if let token = spec.bearerToken { headers.append(("Authorization", "Bearer \(token)")) }
        let request = HTTPClient.Request(
            method: "POST", url: spec.url, headers: headers, body: body,
            timeout: .milliseconds(spec.timeoutMilliseconds), maxResponseBytes: 64 << 10)
        do {
            return try client.perform(request).status
        } catch {
            throw PipelineError(stage: .sink, message: "http sink: \(error)", isRetriable: true, reason: "http_unreachable")
        }
    }

    private func encode(_ records: ArraySlice<Record>) {
        body.removeAll(keepingCapacity: true)
        var encoder = JSONLinesEncoder()
        switch spec.format {
        case .ndjson:
            for record in records { encoder.append(record, to: &body) }
        case .array:
            body.append(UInt8(ascii: "["))
            for (position, record) in records.enumerated() {
                if position > 0 { body.append(UInt8(ascii: ",")) }
                encoder.append(record, to: &body)
                body.removeLast()  // the line's newline
            }
            body.append(UInt8(ascii: "]"))
        }
    }

    /// `consumer:` and a hash of each partition's offset range: the same for
    /// every attempt at the same records, different for any other records.
    private func idempotencyKey(_ records: ArraySlice<Record>) -> String {
        var ranges: [TopicPartition: (first: Int64, last: Int64)] = [:]
        for record in records {
            let message = record.message
            let range = ranges[message.topicPartition]
            ranges[message.topicPartition] = (min(range?.first ?? message.offset, message.offset), max(range?.last ?? message.offset, message.offset))
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (partition, range) in ranges.sorted(by: { $0.key < $1.key }) {
            for byte in "\(partition.topic)/\(partition.partition)/\(range.first)-\(range.last)|".utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        return "\(consumer)-\(String(hash, radix: 16))-\(records.count)"
    }

    public func close() {}
}
