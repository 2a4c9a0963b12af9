import Kafka
import Testing

@Suite("KafkaConfig and topic validation")
struct KafkaConfigTests {
    @Test("librdkafka accepts known properties with valid values")
    func acceptsValidProperty() throws {
        try KafkaConfig.validate(name: "fetch.wait.max.ms", value: "100")
        try KafkaConfig.validate(name: "auto.offset.reset", value: "earliest")
    }

    @Test("unknown properties and malformed values are rejected with librdkafka's reason")
    func rejectsInvalid() {
        #expect {
            try KafkaConfig.validate(name: "no.such.property", value: "1")
        } throws: { error in
            (error as? KafkaError)?.message.contains("No such configuration property") == true
        }
        #expect {
            try KafkaConfig.validate(name: "fetch.wait.max.ms", value: "soon")
        } throws: { error in
            (error as? KafkaError)?.code == .invalidArgument
        }
    }

    @Test("sensitive values are redacted")
    func redaction() {
        let config = KafkaConfig(["sasl.password": "hunter2", "sasl.username": "alice", "ssl.key.password": "x"])
        #expect(config.redacted == ["sasl.password": "********", "sasl.username": "alice", "ssl.key.password": "********"])
    }

    @Test("topic patterns must start with ^ and compile")
    func patterns() throws {
        try TopicPattern.validate(#"^market\..*"#)
        #expect(throws: KafkaError.self) { try TopicPattern.validate("market.*") }
        #expect(throws: KafkaError.self) { try TopicPattern.validate("^market(") }
    }

    @Test("topic names follow Kafka's rules", arguments: [
        ("market.trades", true), ("a_b-c.9", true), ("", false), (".", false), ("..", false),
        ("has space", false), ("slash/no", false), (String(repeating: "x", count: 249), true),
        (String(repeating: "x", count: 250), false),
    ])
    func topicNames(name: String, valid: Bool) {
        #expect(TopicPattern.isValidTopicName(name) == valid)
    }
}
