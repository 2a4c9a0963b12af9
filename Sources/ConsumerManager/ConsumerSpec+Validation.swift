import DataModel
import HTTPClient
import Kafka
import Pipeline
import Sinks

extension ConsumerSpec {
    public static let maxNameLength = 64
    public static let maxTopics = 100
    public static let maxPatternLength = 512
    public static let maxDescriptionLength = 1024
    public static let maxGroupIDLength = 255
    public static let recordsRange = 1...1_000_000
    public static let waitRange = 1...300_000
    public static let bytesRange = 1024...(64 << 20)
    /// Names that collide with routes under /consumers.
    public static let reservedNames: Set<String> = ["start-all", "stop-all"]

    /// Checks every field; the error names the first offending one.
    public func validate() throws(ConsumerManagerError) {
        try Self.validateName(name)
        if let description, description.count > Self.maxDescriptionLength {
            throw .invalid("description", "must be at most \(Self.maxDescriptionLength) characters")
        }
        try validateSubscription()
        try validateGroupID()
        try validateRecordPath()
        try validateBatch()
        try validateSink()
        try validateKafkaProperties()
        try validateRestart()
        if let webhook = alerts?.webhook {
            guard HTTPClient.isAcceptable(webhook, maxBytes: 2048) else {
                throw .invalid("alerts.webhook", "must be an http:// or https:// URL of at most 2048 bytes")
            }
            guard webhook != AlertsSpec.masked(webhook) else {
                throw .invalid("alerts.webhook", "is the mask GET shows; send the real URL (or leave the field out)")
            }
        }
    }

    /// `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`: safe in URLs, file names and metric labels.
    public static func validateName(_ name: String, field: String = "name") throws(ConsumerManagerError) {
        let bytes = Array(name.utf8)
        guard let first = bytes.first else { throw .invalid(field, "must not be empty") }
        guard bytes.count <= maxNameLength else { throw .invalid(field, "must be at most \(maxNameLength) characters") }
        guard first.isASCIIAlphanumeric, bytes.allSatisfy({ $0.isASCIIAlphanumeric || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D })
        else {
            throw .invalid(field, "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
        }
        guard !reservedNames.contains(name) else {
            throw .invalid(field, "'\(name)' is reserved (POST /consumers/\(name) is a bulk operation)")
        }
    }

    private func validateSubscription() throws(ConsumerManagerError) {
        switch (topics, topicPattern) {
        case (nil, nil):
            throw .invalid("topics", "one of topics or topic_pattern is required")
        case (.some, .some):
            throw .invalid("topic_pattern", "give either topics or topic_pattern, not both")
        case (let topics?, nil):
            guard !topics.isEmpty else { throw .invalid("topics", "must list at least one topic") }
            guard topics.count <= Self.maxTopics else { throw .invalid("topics", "must list at most \(Self.maxTopics) topics") }
            var seen = Set<String>()
            for (index, topic) in topics.enumerated() {
                guard TopicPattern.isValidTopicName(topic) else {
                    throw .invalid("topics[\(index)]", "'\(topic)' is not a valid topic name (1-249 characters of A-Z a-z 0-9 . _ -)")
                }
                guard seen.insert(topic).inserted else { throw .invalid("topics[\(index)]", "'\(topic)' is listed twice") }
            }
        case (nil, let pattern?):
            guard pattern.utf8.count <= Self.maxPatternLength else {
                throw .invalid("topic_pattern", "must be at most \(Self.maxPatternLength) bytes")
            }
            do {
                try TopicPattern.validate(pattern)
            } catch {
                throw .invalid("topic_pattern", error.message)
            }
        }
    }

    private func validateGroupID() throws(ConsumerManagerError) {
        guard !groupID.isEmpty, groupID.utf8.count <= Self.maxGroupIDLength else {
            throw .invalid("group_id", "must be 1-\(Self.maxGroupIDLength) bytes")
        }
        guard groupID.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw .invalid("group_id", "must not contain control characters")
        }
    }

    /// Format, preset and stages: everything a run compiles, compiled once
    /// here so that a spec that cannot run is refused at registration.
    private func validateRecordPath() throws(ConsumerManagerError) {
        do {
            try format.validate()
        } catch {
            throw .invalid(error.under("format").field, error.message)
        }
        if let password = format.schemaRegistry?.password, password == KafkaConfig.redactedValue {
            throw .invalid("format.schema_registry.password", "is the mask GET shows; send the real secret (or leave the field out)")
        }
        let path = effectiveRecordPath
        if path.readsFields, !format.type.isStructured {
            let section = recordPath.validation != nil ? "validation" : recordPath.quality != nil ? "quality"
                : recordPath.sequence != nil ? "sequence" : recordPath.transforms != nil ? "transforms" : "preset"
            throw .invalid(section, "reads record fields, which a \(format.type.rawValue) format does not have (use json or avro)")
        }
        do {
            _ = try path.makeStages(deadLetterAvailable: deadLetter != nil)
        } catch {
            throw .invalid(error.field, error.message)
        }
        if deadLetter == nil, let field = path.explicitDeadLetterFields.first {
            throw .invalid(field, "is dead_letter, but the spec has no dead_letter.topic")
        }
        if let deadLetter {
            do {
                try deadLetter.validate()
            } catch {
                throw .invalid(error.under("dead_letter").field, error.message)
            }
            if let topics, topics.contains(where: { deadLetter.topic(for: $0) == $0 }) {
                throw .invalid("dead_letter.topic", "must differ from the topics the consumer reads")
            }
        }
        do {
            try retry.validate()
        } catch {
            throw .invalid(error.under("retry").field, error.message)
        }
    }

    private func validateBatch() throws(ConsumerManagerError) {
        guard Self.recordsRange.contains(batch.maxRecords) else {
            throw .invalid("batch.max_records", "must be between \(Self.recordsRange.lowerBound) and \(Self.recordsRange.upperBound)")
        }
        guard Self.waitRange.contains(batch.maxWaitMilliseconds) else {
            throw .invalid("batch.max_wait_ms", "must be between \(Self.waitRange.lowerBound) and \(Self.waitRange.upperBound)")
        }
        guard Self.bytesRange.contains(batch.maxBytes) else {
            throw .invalid("batch.max_bytes", "must be between \(Self.bytesRange.lowerBound) and \(Self.bytesRange.upperBound)")
        }
    }

    private func validateSink() throws(ConsumerManagerError) {
        do {
            try sink.validate(records: recordSchemas)
        } catch {
            throw .invalid(error.field, error.message)
        }
        if sink.holdsMaskedSecret {
            throw .invalid("sink", "holds the mask GET shows for a secret; send the real value (or leave the field out)")
        }
        // A sink writing into a topic the consumer reads would feed on itself.
        if let kafka = sink.spec as? KafkaSinkSpec, kafka.bootstrapServers == nil, let out = kafka.topic, topics?.contains(out) == true {
            throw .invalid("sink.topic", "must differ from the topics the consumer reads")
        }
    }

    private func validateKafkaProperties() throws(ConsumerManagerError) {
        guard kafka.count <= ClientPropertyPolicy.maxProperties else {
            throw .invalid("kafka", "at most \(ClientPropertyPolicy.maxProperties) properties")
        }
        for (name, value) in kafka.sorted(by: { $0.key < $1.key }) {
            let field = "kafka.\(name)"
            if let refusal = ClientPropertyPolicy.refusal(for: name) { throw .invalid(field, refusal) }
            guard value.utf8.count <= ClientPropertyPolicy.maxValueLength, !value.utf8.contains(0) else {
                throw .invalid(field, "value must be at most \(ClientPropertyPolicy.maxValueLength) bytes without NUL")
            }
            if let refusal = ClientPropertyPolicy.valueRefusal(for: name, value: value) { throw .invalid(field, refusal) }
            do {
                try KafkaConfig.validate(name: name, value: value)
            } catch {
                throw .invalid(field, error.message)
            }
        }
    }

    private func validateRestart() throws(ConsumerManagerError) {
        guard (0...1000).contains(restart.maxRestarts) else {
            throw .invalid("restart.max_restarts", "must be between 0 (no limit) and 1000")
        }
        guard (100...600_000).contains(restart.initialBackoffMilliseconds) else {
            throw .invalid("restart.initial_backoff_ms", "must be between 100 and 600000")
        }
        guard (restart.initialBackoffMilliseconds...3_600_000).contains(restart.maxBackoffMilliseconds) else {
            throw .invalid("restart.max_backoff_ms", "must be between initial_backoff_ms and 3600000")
        }
    }

    /// The spec as shown to clients and logs: secrets masked.
    public var redacted: ConsumerSpec {
        var copy = self
        copy.kafka = ClientPropertyPolicy.redact(kafka)
        if copy.format.schemaRegistry?.password != nil { copy.format.schemaRegistry?.password = KafkaConfig.redactedValue }
        copy.sink = sink.redacted()
        if let webhook = alerts?.webhook { copy.alerts?.webhook = AlertsSpec.masked(webhook) }
        return copy
    }

    /// Replaces masked secret values (as returned by GET) with the values
    /// already stored, so that a spec can be read, edited and PUT back.
    public func restoringSecrets(from previous: ConsumerSpec) -> ConsumerSpec {
        var copy = self
        for (name, value) in kafka where value == KafkaConfig.redactedValue && KafkaConfig.isSensitive(name) {
            copy.kafka[name] = previous.kafka[name]
        }
        copy.sink = sink.restoringSecrets(from: previous.sink)
        if format.schemaRegistry?.password == KafkaConfig.redactedValue,
            previous.format.schemaRegistry?.url == format.schemaRegistry?.url
        {
            copy.format.schemaRegistry?.password = previous.format.schemaRegistry?.password
        }
        if let webhook = alerts?.webhook, let stored = previous.alerts?.webhook, webhook == AlertsSpec.masked(stored) {
            copy.alerts?.webhook = stored
        }
        return copy
    }
}

extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
    }
}
