import CRdKafka
import Logging

/// librdkafka's mock Kafka cluster: real Kafka protocol on loopback ports,
/// with consumer groups, offset commits and fault injection. Used by
/// `serve --dev`, `dev-broker` and the tests.
///
/// Limits worth knowing: a partition keeps only its last ~5 MiB or 100,000
/// message sets, the first group join waits ~3 s, and an empty fetch waits the
/// full `fetch.wait.max.ms`.
public final class EmbeddedCluster: Sendable {
    private nonisolated(unsafe) let host: OpaquePointer
    private nonisolated(unsafe) let cluster: OpaquePointer
    private let context: ClientContext
    /// Comma-separated `host:port` list for `bootstrap.servers`.
    public let bootstrapServers: String
    public let brokerCount: Int

    public init(brokers: Int = 1, logger: Logger) throws(KafkaError) {
        guard (1...32).contains(brokers) else {
            throw KafkaError.invalidArgument("broker count must be between 1 and 32")
        }
        let context = ClientContext(logger: logger)
        self.context = context
        // The cluster lives inside a client handle; a producer is the lightest.
        self.host = try makeHandle(type: RD_KAFKA_PRODUCER, config: KafkaConfig(["log_level": "4"]), context: context)
        guard let cluster = rd_kafka_mock_cluster_new(host, Int32(brokers)) else {
            rd_kafka_destroy(host)
            throw KafkaError.invalidArgument("could not create the mock cluster")
        }
        self.cluster = cluster
        self.brokerCount = brokers
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(host)
    }

    /// Creates a topic. Topics a client asks for that do not exist are also
    /// auto-created by the mock with its default partition count.
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(KafkaError) {
        guard TopicPattern.isValidTopicName(name) else { throw KafkaError.invalidArgument("invalid topic name '\(name)'") }
        guard partitions > 0 else { throw KafkaError.invalidArgument("a topic needs at least one partition") }
        let replicas = min(replicationFactor, Int32(brokerCount))
        try check(rd_kafka_mock_topic_create(cluster, name, partitions, replicas), "create topic \(name)")
    }

    /// Takes a broker off the network (connections drop, new ones are refused).
    public func setBrokerDown(_ brokerID: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_down(cluster, brokerID), "broker \(brokerID) down")
    }

    public func setBrokerUp(_ brokerID: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_up(cluster, brokerID), "broker \(brokerID) up")
    }

    /// Delays every response of a broker by `rtt` (a slow or stalled broker).
    public func setBrokerRTT(_ brokerID: Int32, _ rtt: Duration) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_rtt(cluster, brokerID, rtt.kafkaMilliseconds), "broker \(brokerID) rtt")
    }

    /// Moves a group's coordinator to another broker.
    public func setCoordinator(group: String, brokerID: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_coordinator_set(cluster, "group", group, brokerID), "coordinator of \(group)")
    }

    /// Makes a topic answer every metadata request with `error` (clients can
    /// then neither produce to nor consume from it); `.noError` clears it.
    public func setTopicError(_ topic: String, _ error: KafkaError.Code) {
        rd_kafka_mock_topic_set_error(cluster, topic, rd_kafka_resp_err_t(rawValue: error.rawValue))
    }

    /// Makes the next requests of one API key fail with the given errors, in order.
    public func failNextRequests(apiKey: Int16, with errors: [KafkaError.Code]) {
        var codes = errors.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        rd_kafka_mock_push_request_errors_array(cluster, apiKey, codes.count, &codes)
    }
}

/// Kafka protocol API keys the tests inject faults into.
public enum KafkaAPIKey {
    public static let produce: Int16 = 0
    public static let fetch: Int16 = 1
    public static let offsetCommit: Int16 = 8
    public static let findCoordinator: Int16 = 10
    public static let heartbeat: Int16 = 12
    public static let syncGroup: Int16 = 14
}
