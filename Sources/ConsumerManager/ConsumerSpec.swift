import DataModel
import Kafka
import Pipeline
import Sinks

/// A consumer as declared over the API: what to read, how to decode,
/// check and transform it (the record path), how to batch it, where to
/// write it, and how to recover. Decoding fills defaults and rejects unknown
/// fields; ``validate()`` checks every value.
public struct ConsumerSpec: Sendable, Equatable, Codable {
    public var name: String
    public var description: String?
    /// Exactly one of `topics` and `topicPattern` is set.
    public var topics: [String]?
    /// A regex subscription (`^market\..*`), POSIX extended syntax.
    public var topicPattern: String?
    public var groupID: String
    public var format: FormatSpec
    /// A named set of stages from the seeds (`market-trades`, …); the
    /// spec's own sections override the preset's, section by section.
    public var preset: Preset?
    /// Validation, quality, sequence, transforms and error policies as given.
    public var recordPath: RecordPathSpec
    /// Where rejected records go; without one, a dead-letter disposition stops the consumer.
    public var deadLetter: DeadLetterSpec?
    /// How transient errors (sink, dead-letter topic, Schema Registry) are retried.
    public var retry: RetrySpec
    /// Where this consumer's state and health changes are posted.
    public var alerts: AlertsSpec?
    public var batch: Batch
    public var sink: SinkSection
    /// Extra librdkafka consumer properties, from an allowlist.
    public var kafka: [String: String]
    public var restart: RestartSpec
    /// Start as soon as it is registered.
    public var autostart: Bool

    public struct Batch: Sendable, Equatable, Codable {
        public var maxRecords: Int
        public var maxWaitMilliseconds: Int
        /// Value bytes after which a batch is written early (bounds memory).
        public var maxBytes: Int

        public init(maxRecords: Int = 1000, maxWaitMilliseconds: Int = 1000, maxBytes: Int = 16 << 20) {
            self.maxRecords = maxRecords
            self.maxWaitMilliseconds = maxWaitMilliseconds
            self.maxBytes = maxBytes
        }

        /// What a spec without a `batch` section gets with this sink.
        init(for sink: SinkSection) {
            guard let defaults = sink.defaultBatch else {
                self.init()
                return
            }
            self.init(maxRecords: defaults.maxRecords, maxWaitMilliseconds: defaults.maxWaitMilliseconds, maxBytes: defaults.maxBytes)
        }
    }

    public struct RestartSpec: Sendable, Equatable, Codable {
        public enum Policy: String, Sendable, Codable, CaseIterable {
            /// Restart a failed consumer with exponential backoff.
            case onFailure = "on_failure"
            /// Leave a failed consumer failed.
            case never
        }

        public var policy: Policy
        /// Consecutive failures after which restarts stop; 0 means never give up.
        public var maxRestarts: Int
        public var initialBackoffMilliseconds: Int
        public var maxBackoffMilliseconds: Int

        public init(
            policy: Policy = .onFailure, maxRestarts: Int = 0,
            initialBackoffMilliseconds: Int = 1000, maxBackoffMilliseconds: Int = 60000
        ) {
            self.policy = policy
            self.maxRestarts = maxRestarts
            self.initialBackoffMilliseconds = initialBackoffMilliseconds
            self.maxBackoffMilliseconds = maxBackoffMilliseconds
        }

        /// Whether the policy restarts a consumer that failed `failures` times in a row.
        public func allowsRestart(afterFailures failures: Int) -> Bool {
            policy == .onFailure && (maxRestarts == 0 || failures <= maxRestarts)
        }

        /// The wait before that restart: doubling from the initial backoff, capped.
        public func backoff(afterFailures failures: Int) -> Duration {
            RetryPolicy(
                maxAttempts: 0, initialBackoff: .milliseconds(initialBackoffMilliseconds),
                maxBackoff: .milliseconds(maxBackoffMilliseconds)
            ).backoff(afterFailures: failures)
        }
    }

    /// A spec with every default filled in.
    public init(
        name: String,
        description: String? = nil,
        topics: [String]? = nil,
        topicPattern: String? = nil,
        groupID: String? = nil,
        format: FormatSpec = FormatSpec(),
        preset: Preset? = nil,
        recordPath: RecordPathSpec = RecordPathSpec(),
        deadLetter: DeadLetterSpec? = nil,
        retry: RetrySpec = RetrySpec(),
        alerts: AlertsSpec? = nil,
        batch: Batch? = nil,
        sink: SinkSection? = nil,
        kafka: [String: String] = [:],
        restart: RestartSpec = RestartSpec(),
        autostart: Bool = true
    ) {
        self.name = name
        self.description = description
        self.topics = topics
        self.topicPattern = topicPattern
        self.groupID = groupID ?? Self.defaultGroupID(for: name)
        self.format = format
        self.preset = preset
        self.recordPath = recordPath
        self.deadLetter = deadLetter
        self.retry = retry
        self.alerts = alerts
        self.sink = (sink ?? .file()).resolvingDefaults(consumer: name)
        self.batch = batch ?? Batch(for: self.sink)
        self.kafka = kafka
        self.restart = restart
        self.autostart = autostart
    }

    public static func defaultGroupID(for name: String) -> String { "consumerd-\(name)" }

    /// The subscription as operators read it: topic list or pattern.
    public var subscriptionDescription: String {
        topicPattern ?? (topics ?? []).joined(separator: ",")
    }

    /// The record path that runs: the preset's sections, each replaced by the
    /// spec's own where it has one.
    /// What the sink can know of the records before any arrives.
    public var recordSchemas: RecordSchemas {
        RecordSchemas(
            validation: effectiveRecordPath.validation?.schema,
            avro: format.type == .avro ? format.readerSchema ?? format.writerSchema : nil)
    }

    public var effectiveRecordPath: RecordPathSpec {
        guard let base = preset?.recordPath else { return recordPath }
        return RecordPathSpec(
            validation: recordPath.validation ?? base.validation,
            quality: recordPath.quality ?? base.quality,
            sequence: recordPath.sequence ?? base.sequence,
            transforms: recordPath.transforms ?? base.transforms,
            onError: RecordPathSpec.OnError(
                decode: recordPath.onError.decode ?? base.onError.decode,
                transform: recordPath.onError.transform ?? base.onError.transform))
    }
}

// MARK: - JSON

extension ConsumerSpec {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, topics
        case topicPattern = "topic_pattern"
        case groupID = "group_id"
        case format, preset, validation, quality, sequence, transforms
        case onError = "on_error"
        case deadLetter = "dead_letter"
        case retry, alerts, batch, sink, kafka, restart, autostart
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .name)
        self.init(
            name: name,
            description: try container.decodeUnlessAbsent(String.self, forKey: .description),
            topics: try container.decodeUnlessAbsent([String].self, forKey: .topics),
            topicPattern: try container.decodeUnlessAbsent(String.self, forKey: .topicPattern),
            groupID: try container.decodeUnlessAbsent(String.self, forKey: .groupID),
            format: try container.decodeUnlessAbsent(FormatSpec.self, forKey: .format) ?? FormatSpec(),
            preset: try container.decodeEnumIfPresent(Preset.self, forKey: .preset),
            recordPath: RecordPathSpec(
                validation: try container.decodeUnlessAbsent(ValidationSpec.self, forKey: .validation),
                quality: try container.decodeUnlessAbsent(QualitySpec.self, forKey: .quality),
                sequence: try container.decodeUnlessAbsent(SequenceSpec.self, forKey: .sequence),
                transforms: try container.decodeUnlessAbsent([TransformSpec].self, forKey: .transforms),
                onError: try container.decodeUnlessAbsent(RecordPathSpec.OnError.self, forKey: .onError) ?? .init()),
            deadLetter: try container.decodeUnlessAbsent(DeadLetterSpec.self, forKey: .deadLetter),
            retry: try container.decodeUnlessAbsent(RetrySpec.self, forKey: .retry) ?? RetrySpec(),
            alerts: try container.decodeUnlessAbsent(AlertsSpec.self, forKey: .alerts),
            batch: try container.decodeUnlessAbsent(Batch.self, forKey: .batch),
            sink: try container.decodeUnlessAbsent(SinkSection.self, forKey: .sink),
            kafka: try container.decodeUnlessAbsent(PropertyMap.self, forKey: .kafka)?.values ?? [:],
            restart: try container.decodeUnlessAbsent(RestartSpec.self, forKey: .restart) ?? RestartSpec(),
            autostart: try container.decodeUnlessAbsent(Bool.self, forKey: .autostart) ?? true
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encodeIfPresent(topics, forKey: .topics)
        try container.encodeIfPresent(topicPattern, forKey: .topicPattern)
        try container.encode(groupID, forKey: .groupID)
        try container.encode(format, forKey: .format)
        try container.encodeIfPresent(preset, forKey: .preset)
        try container.encodeIfPresent(recordPath.validation, forKey: .validation)
        try container.encodeIfPresent(recordPath.quality, forKey: .quality)
        try container.encodeIfPresent(recordPath.sequence, forKey: .sequence)
        try container.encodeIfPresent(recordPath.transforms, forKey: .transforms)
        if recordPath.onError != .init() { try container.encode(recordPath.onError, forKey: .onError) }
        try container.encodeIfPresent(deadLetter, forKey: .deadLetter)
        try container.encode(retry, forKey: .retry)
        try container.encodeIfPresent(alerts, forKey: .alerts)
        try container.encode(batch, forKey: .batch)
        try container.encode(sink, forKey: .sink)
        try container.encode(PropertyMap(values: kafka), forKey: .kafka)
        try container.encode(restart, forKey: .restart)
        try container.encode(autostart, forKey: .autostart)
    }
}

extension RecordPathSpec.OnError: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable { case decode, transform }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            decode: try container.decodeEnumIfPresent(RejectionPolicy.self, forKey: .decode),
            transform: try container.decodeEnumIfPresent(RejectionPolicy.self, forKey: .transform))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(decode, forKey: .decode)
        try container.encodeIfPresent(transform, forKey: .transform)
    }
}

/// `"alerts": {"webhook": "https://..."}`: the consumer's own alert webhook,
/// besides the server's `--alert-webhook`.
public struct AlertsSpec: Sendable, Equatable, Codable {
    public var webhook: String?

    public init(webhook: String? = nil) {
        self.webhook = webhook
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case webhook }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(webhook: try container.decodeUnlessAbsent(String.self, forKey: .webhook))
    }

    /// Webhook URLs often carry their secret in the path (Slack, Teams):
    /// shown as `https://host/***`.
    public static func masked(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return KafkaConfig.redactedValue }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.split(separator: "@").last.map(String.init) ?? ""
        return "\(url[..<schemeEnd.upperBound])\(host)/\(KafkaConfig.redactedValue)"
    }
}

extension ConsumerSpec.Batch {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxRecords = "max_records"
        case maxWaitMilliseconds = "max_wait_ms"
        case maxBytes = "max_bytes"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Self()
        self.init(
            maxRecords: try container.decodeUnlessAbsent(Int.self, forKey: .maxRecords) ?? defaults.maxRecords,
            maxWaitMilliseconds: try container.decodeUnlessAbsent(Int.self, forKey: .maxWaitMilliseconds)
                ?? defaults.maxWaitMilliseconds,
            maxBytes: try container.decodeUnlessAbsent(Int.self, forKey: .maxBytes) ?? defaults.maxBytes)
    }
}

extension ConsumerSpec.RestartSpec {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case policy
        case maxRestarts = "max_restarts"
        case initialBackoffMilliseconds = "initial_backoff_ms"
        case maxBackoffMilliseconds = "max_backoff_ms"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Self()
        self.init(
            policy: try container.decodeEnumIfPresent(Policy.self, forKey: .policy) ?? defaults.policy,
            maxRestarts: try container.decodeUnlessAbsent(Int.self, forKey: .maxRestarts) ?? defaults.maxRestarts,
            initialBackoffMilliseconds: try container.decodeUnlessAbsent(Int.self, forKey: .initialBackoffMilliseconds)
                ?? defaults.initialBackoffMilliseconds,
            maxBackoffMilliseconds: try container.decodeUnlessAbsent(Int.self, forKey: .maxBackoffMilliseconds)
                ?? defaults.maxBackoffMilliseconds)
    }
}

/// librdkafka properties as JSON: values may be strings, numbers or booleans
/// (`"fetch.min.bytes": 1024` is as natural as `"1024"`); all become strings,
/// and go back out typed: canonical integers as numbers, `true`/`false` as
/// booleans (secrets always as strings), so GET shows what was sent.
struct PropertyMap: Codable {
    var values: [String: String]

    init(values: [String: String]) { self.values = values }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            let key = AnyCodingKey(stringValue: name)
            if KafkaConfig.isSensitive(name) {
                try container.encode(value, forKey: key)
            } else if value == "true" || value == "false" {
                try container.encode(value == "true", forKey: key)
            } else if let number = Int64(value), String(number) == value {
                try container.encode(number, forKey: key)
            } else {
                try container.encode(value, forKey: key)
            }
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        var values: [String: String] = [:]
        for key in container.allKeys {
            if let string = try? container.decode(String.self, forKey: key) {
                values[key.stringValue] = string
            } else if let bool = try? container.decode(Bool.self, forKey: key) {
                values[key.stringValue] = bool ? "true" : "false"
            } else if let int = try? container.decode(Int64.self, forKey: key) {
                values[key.stringValue] = String(int)
            } else {
                throw DecodingError.typeMismatch(
                    String.self,
                    .init(codingPath: container.codingPath + [key], debugDescription: "expected a string, integer or boolean"))
            }
        }
        self.values = values
    }
}
