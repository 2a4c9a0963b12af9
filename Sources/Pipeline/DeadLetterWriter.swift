import DataModel
import Foundation
import Kafka
import Logging
import Synchronization

/// `"dead_letter": {"topic": "trades.dlq"}`: where records go that a stage
/// rejects with a `dead_letter` disposition. `{topic}` in the name stands for
/// the record's source topic (`"{topic}.dlq"`), for pattern subscriptions.
public struct DeadLetterSpec: Sendable, Equatable {
    public var topic: String

    public init(topic: String) {
        self.topic = topic
    }

    public static let sourcePlaceholder = "{topic}"

    /// The dead-letter topic for a record of `source`.
    public func topic(for source: String) -> String {
        topic.replacingOccurrences(of: Self.sourcePlaceholder, with: source)
    }

    public func validate() throws(SpecError) {
        guard TopicPattern.isValidTopicName(topic(for: "t")) else {
            throw SpecError("topic", "'\(topic)' is not a valid topic name (A-Z a-z 0-9 . _ -, optionally {topic} for the source topic)")
        }
    }
}

/// A record on its way to the dead-letter topic, with why it was turned away.
public struct DeadLetter: Sendable {
    /// The original message: key, value and headers are sent unchanged.
    public var message: KafkaMessage
    public var rejection: Rejection
    public var failedAt: Date
    /// Processing attempts before the record was dead-lettered.
    public var attempts: Int
    /// Acknowledged by the dead-letter topic.
    public var delivered = false

    public init(message: KafkaMessage, rejection: Rejection, failedAt: Date = Date(), attempts: Int = 1) {
        self.message = message
        self.rejection = rejection
        self.failedAt = failedAt
        self.attempts = attempts
    }
}

/// Writes dead letters through an idempotent producer (`acks=all`) and
/// reports, per letter, whether the dead-letter topic acknowledged it. The
/// consumer commits a dead-lettered record's offset only after that, so an
/// outage of the dead-letter topic is a transient error, never a skip.
///
/// Each letter keeps the original key, value and headers and gains the
/// `consumerd.*` context headers (Kafka Connect's DLQ convention, with our prefix).
public final class DeadLetterWriter {
    public let spec: DeadLetterSpec
    private let producer: KafkaProducer
    private let consumer: String
    private let group: String
    /// How long one delivery attempt may take before it counts as failed;
    /// the loop waits that long, so it is short, and the consumer's retry
    /// policy paces the attempts.
    public let deliveryTimeout: Duration

    /// The longest `consumerd.error.message` header; longer messages are cut.
    static let maxErrorMessageBytes = 4096

    public init(spec: DeadLetterSpec, producerConfig: KafkaConfig, consumer: String, group: String, deliveryTimeout: Duration = .seconds(5), logger: Logger) throws(KafkaError) {
        self.spec = spec
        self.consumer = consumer
        self.group = group
        self.deliveryTimeout = deliveryTimeout
        let milliseconds = String(max(1000, deliveryTimeout.components.seconds * 1000))
        self.producer = try KafkaProducer(
            config: producerConfig.merging([
                "enable.idempotence": "true", "acks": "all", "linger.ms": "5",
                // librdkafka gives up on a message after this; the writer then retries the letter.
                "message.timeout.ms": milliseconds,
            ]),
            logger: logger)
    }

    /// Sends every letter and waits for the acknowledgements; the result per
    /// letter, in order. Letters already delivered are not sent again.
    public func deliver(_ letters: [DeadLetter]) -> [Result<Void, KafkaError>] {
        let results = Mutex<[Int: Result<Void, KafkaError>]>([:])
        for (index, letter) in letters.enumerated() where !letter.delivered {
            do {
                try producer.send(
                    topic: spec.topic(for: letter.message.topic), key: letter.message.key, value: letter.message.value,
                    headers: headers(for: letter)
                ) { outcome in
                    results.withLock { $0[index] = outcome.map { _ in () } }
                }
            } catch {
                results.withLock { $0[index] = .failure(error) }
            }
        }
        do {
            try producer.flush(timeout: deliveryTimeout)
        } catch {
            // Unanswered letters are reported as failed below.
        }
        let answered = results.withLock { $0 }
        return letters.indices.map { index in
            if letters[index].delivered { return .success(()) }
            return answered[index] ?? .failure(KafkaError(code: .timedOut, message: "no acknowledgement within \(deliveryTimeout)", isRetriable: true))
        }
    }

    /// Whether a failed delivery can never succeed for this letter (too
    /// large for the topic, refused as invalid): the consumer must stop
    /// rather than skip it. Everything else (timeouts, a missing topic,
    /// refused authorisation, brokers down) is retried.
    public static func isPermanent(_ error: KafkaError) -> Bool {
        [KafkaError.Code.messageTooLarge, .invalidRecord, .badMessage, .invalidArgument].contains(error.code)
    }

    func headers(for letter: DeadLetter) -> [KafkaHeader] {
        let message = letter.message
        var error = Array(letter.rejection.message.utf8)
        if error.count > Self.maxErrorMessageBytes {
            // Cut on a character boundary.
            var end = Self.maxErrorMessageBytes
            while end > 0, error[end] & 0xC0 == 0x80 { end -= 1 }
            error = Array(error[..<end])
        }
        func header(_ name: String, _ value: String) -> KafkaHeader { KafkaHeader(name: name, value: Array(value.utf8)) }
        return message.headers + [
            header("consumerd.original.topic", message.topic),
            header("consumerd.original.partition", String(message.partition)),
            header("consumerd.original.offset", String(message.offset)),
            header("consumerd.original.timestamp", message.timestamp.map(String.init) ?? ""),
            header("consumerd.consumer", consumer),
            header("consumerd.group", group),
            header("consumerd.stage", letter.rejection.stage.rawValue),
            header("consumerd.error.type", letter.rejection.reason),
            KafkaHeader(name: "consumerd.error.message", value: error),
            header("consumerd.failed_at", CivilTime.formatTimestamp(micros: Int64(letter.failedAt.timeIntervalSince1970 * 1e6))),
            header("consumerd.attempts", String(letter.attempts)),
        ]
    }
}

extension DeadLetterSpec: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable { case topic }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(topic: try container.decode(String.self, forKey: .topic))
    }
}
