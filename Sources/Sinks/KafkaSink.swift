import DataModel
import Foundation
import Kafka
import Logging
import Pipeline
import Synchronization

/// `{"type": "kafka", "topic": "out", "delivery": "exactly_once"}`: records
/// produced to a Kafka topic (fixed, or from a field), keyed by the source
/// key or a field, with the source headers.
///
/// `exactly_once`: a transactional producer per consumer writes each batch
/// and the consumer's offsets in one transaction (`send_offsets_to_transaction`
/// with the consumer's group metadata), so `read_committed` readers see each
/// record once and a zombie of an older group generation is fenced.
/// `at_least_once`: an idempotent producer with `acks=all`; the consumer
/// commits once every record is acknowledged.
public struct KafkaSinkSpec: SinkSpec {
    public static let type = "kafka"

    public enum Delivery: String, Sendable, Codable, CaseIterable {
        case exactlyOnce = "exactly_once"
        case atLeastOnce = "at_least_once"
    }

    public var topic: String?
    /// Each record's topic from this field (a string naming a valid topic).
    public var topicField: String?
    /// The key from this field; by default the source record's key.
    public var keyField: String?
    public var delivery: Delivery
    /// Another cluster; by default the server's.
    public var bootstrapServers: String?
    /// Copy the source record's headers (default true).
    public var headers: Bool

    public init(
        topic: String? = nil, topicField: String? = nil, keyField: String? = nil, delivery: Delivery = .atLeastOnce,
        bootstrapServers: String? = nil, headers: Bool = true
    ) {
        self.topic = topic
        self.topicField = topicField
        self.keyField = keyField
        self.delivery = delivery
        self.bootstrapServers = bootstrapServers
        self.headers = headers
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, topic, delivery, headers
        case topicField = "topic_field"
        case keyField = "key_field"
        case bootstrapServers = "bootstrap_servers"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            topic: try container.decodeUnlessAbsent(String.self, forKey: .topic),
            topicField: try container.decodeUnlessAbsent(String.self, forKey: .topicField),
            keyField: try container.decodeUnlessAbsent(String.self, forKey: .keyField),
            delivery: try container.decodeEnumIfPresent(Delivery.self, forKey: .delivery) ?? .atLeastOnce,
            bootstrapServers: try container.decodeUnlessAbsent(String.self, forKey: .bootstrapServers),
            headers: try container.decodeUnlessAbsent(Bool.self, forKey: .headers) ?? true)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
        try container.encodeIfPresent(topic, forKey: .topic)
        try container.encodeIfPresent(topicField, forKey: .topicField)
        try container.encodeIfPresent(keyField, forKey: .keyField)
        try container.encode(delivery, forKey: .delivery)
        try container.encodeIfPresent(bootstrapServers, forKey: .bootstrapServers)
        try container.encode(headers, forKey: .headers)
    }

    public func validate() throws(SpecError) {
        switch (topic, topicField) {
        case (nil, nil): throw SpecError("topic", "a kafka sink needs topic or topic_field")
        case (.some, .some): throw SpecError("topic_field", "give either topic or topic_field, not both")
        case (let topic?, nil):
            guard TopicPattern.isValidTopicName(topic) else { throw SpecError("topic", "'\(topic)' is not a valid topic name") }
        case (nil, let field?):
            _ = try parseFieldPath(field, field: "topic_field")
        }
        if let keyField { _ = try parseFieldPath(keyField, field: "key_field") }
        if let bootstrapServers {
            let brokers = bootstrapServers.split(separator: ",")
            guard !brokers.isEmpty, bootstrapServers.utf8.count <= 1024,
                brokers.allSatisfy({ broker in
                    guard let colon = broker.lastIndex(of: ":"), let port = Int(broker[broker.index(after: colon)...]) else { return false }
                    return colon != broker.startIndex && (1...65535).contains(port)
                        && broker[..<colon].allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "[" || $0 == "]" || $0 == ":" }
                })
            else {
                throw SpecError("bootstrap_servers", "must be HOST:PORT[,HOST:PORT...]")
            }
        }
    }

    public var commits: SinkCommits { delivery == .exactlyOnce ? .transaction : .consumer }
    public var readsRecordFields: Bool { topicField != nil || keyField != nil }

    public func target(in context: SinkContext) -> String {
        let servers = bootstrapServers ?? context.kafka["bootstrap.servers"] ?? "?"
        return "kafka://\(servers)/\(topic ?? "{\(topicField ?? "")}")"
    }

    public func makeSink(in context: SinkContext) throws(PipelineError) -> any Sink {
        try KafkaSink(spec: self, context: context)
    }
}

/// Produces a batch's records, in a transaction with the consumer's offsets
/// when exactly-once.
public final class KafkaSink: Sink {
    public let kind = KafkaSinkSpec.type
    public let target: String
    public let commits: SinkCommits
    private let spec: KafkaSinkSpec
    private let config: KafkaConfig
    private let logger: Logger
    private var producer: KafkaProducer?
    private let topicPath: FieldPath?
    private let keyPath: FieldPath?
    /// Bounds each blocking call (init, send offsets, commit, abort, flush).
    static let timeout: Duration = .seconds(30)

    init(spec: KafkaSinkSpec, context: SinkContext) throws(PipelineError) {
        self.spec = spec
        self.target = spec.target(in: context)
        self.commits = spec.commits
        self.logger = context.logger
        topicPath = spec.topicField.flatMap(FieldPath.init)
        keyPath = spec.keyField.flatMap(FieldPath.init)
        var config = context.kafka
            .merging(spec.bootstrapServers.map { ["bootstrap.servers": $0] } ?? [:])
            .merging([
                "client.id": "consumerd-\(context.consumer)-sink",
                "enable.idempotence": "true",
                "acks": "all",
                "linger.ms": "5",
            ])
        if spec.delivery == .exactlyOnce {
            // One id per consumer and server: a restarted server fences what
            // its previous process left open; two servers sharing a group
            // never fence each other (KIP-447: the group generation fences zombies).
            config["transactional.id"] = "consumerd-\(context.consumer)-\(context.instance)"
        }
        self.config = config
    }

    deinit { close() }

    /// The producer, created (and its transactions initialised) on first use
    /// and again after a fatal error.
    private func openProducer() throws(PipelineError) -> KafkaProducer {
        if let producer { return producer }
        do {
            let created = try KafkaProducer(config: config, logger: logger)
            if spec.delivery == .exactlyOnce { try created.initTransactions(timeout: Self.timeout) }
            producer = created
            return created
        } catch {
            throw Self.failure("open producer", error)
        }
    }

    public func write(_ batch: SinkBatch) throws(PipelineError) -> SinkWriteResult {
        switch spec.delivery {
        case .atLeastOnce: try writeAcknowledged(batch)
        case .exactlyOnce: try writeTransaction(batch)
        }
    }

    /// The outgoing topic, key, value and headers of a record, or why it cannot go.
    private func outgoing(_ record: Record) -> (topic: String, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader])? {
        let topic: String
        if let fixed = spec.topic {
            topic = fixed
        } else if let topicPath, let named = record.text(at: topicPath), TopicPattern.isValidTopicName(named) {
            topic = named
        } else {
            return nil
        }
        let key = keyPath.map { record.text(at: $0).map { Array($0.utf8) } } ?? record.message.key
        return (topic, key, record.payload, spec.headers ? record.message.headers : [])
    }

    /// Records with no usable topic field are refused before anything is sent.
    private func refusals(_ records: [Record]) -> [RejectedRecord] {
        guard spec.topic == nil else { return [] }
        return records.indices.compactMap { index in
            outgoing(records[index]) == nil
                ? RejectedRecord(index: index, reason: "no_topic", message: "field \(spec.topicField ?? "") does not name a valid topic")
                : nil
        }
    }

    private func writeAcknowledged(_ batch: SinkBatch) throws(PipelineError) -> SinkWriteResult {
        let refused = refusals(batch.records)
        if !refused.isEmpty { return .rejected(refused) }
        let producer = try openProducer()
        let failures = Mutex<[Int: KafkaError]>([:])
        for (index, record) in batch.records.enumerated() {
            guard let out = outgoing(record) else { continue }
            do {
                try producer.send(topic: out.topic, key: out.key, value: out.value, headers: out.headers) { outcome in
                    if case .failure(let error) = outcome { failures.withLock { $0[index] = error } }
                }
            } catch {
                failures.withLock { $0[index] = error }
            }
        }
        do {
            try producer.flush(timeout: Self.timeout)
        } catch {
            throw Self.failure("flush", error)
        }
        let failed = failures.withLock { $0 }
        guard !failed.isEmpty else { return .written }
        // Too large or invalid for the topic: never writable, the rest is retried without them.
        let permanent = failed.filter { [.messageTooLarge, .invalidRecord].contains($0.value.code) }
        if !permanent.isEmpty, permanent.count == failed.count {
            return .rejected(permanent.map { RejectedRecord(index: $0.key, reason: $0.value.code.name, message: $0.value.message) }
                .sorted { $0.index < $1.index })
        }
        let (_, first) = failed.min { $0.key < $1.key }!
        throw Self.failure("\(failed.count) of \(batch.records.count) records not acknowledged", first)
    }

    private func writeTransaction(_ batch: SinkBatch) throws(PipelineError) -> SinkWriteResult {
        let refused = refusals(batch.records)
        if !refused.isEmpty { return .rejected(refused) }
        guard let group = batch.group else {
            throw PipelineError(stage: .sink, message: "\(target): no group membership to commit offsets with", isRetriable: true)
        }
        let producer = try openProducer()
        do {
            try producer.beginTransaction()
            for record in batch.records {
                guard let out = outgoing(record) else { continue }
                try producer.send(topic: out.topic, key: out.key, value: out.value, headers: out.headers)
            }
            try producer.sendOffsetsToTransaction(batch.offsets, group: group, timeout: Self.timeout)
            try producer.commitTransaction(timeout: Self.timeout)
            return .written
        } catch {
            abandon(producer, after: error)
            throw Self.failure("transaction", error)
        }
    }

    /// After a failed transaction: abort it so the batch can be retried, or,
    /// when the producer cannot go on (fenced, fatal), drop it for a new one.
    private func abandon(_ producer: KafkaProducer, after error: KafkaError) {
        if error.isFatal || error.code == .producerFenced {
            logger.warning("transactional producer replaced", metadata: ["error": "\(error)"])
            self.producer = nil
            return
        }
        do {
            try producer.abortTransaction(timeout: Self.timeout)
        } catch {
            logger.warning("abort transaction failed; replacing the producer", metadata: ["error": "\(error)"])
            self.producer = nil
        }
    }

    /// Everything but a fenced producer or a refused record is worth another attempt.
    static func failure(_ what: String, _ error: KafkaError) -> PipelineError {
        PipelineError(stage: .sink, message: "kafka sink: \(what): \(error)", isRetriable: true, reason: error.code.name)
    }

    public func close() {
        if let producer {
            try? producer.flush(timeout: .seconds(5))
            self.producer = nil
        }
    }
}
