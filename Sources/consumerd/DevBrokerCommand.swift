import ArgumentParser
import Foundation
import Kafka
import Logging
import ServiceLifecycle

/// `consumerd dev-broker`: librdkafka's mock Kafka cluster as a standalone
/// broker for local work and tests. Prints the bootstrap address, runs until
/// SIGTERM or SIGINT.
struct DevBrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-broker",
        abstract: "Run an embedded Kafka cluster (librdkafka's mock) until SIGTERM.")

    @Option(help: "Number of brokers.")
    var brokers = 1

    @Option(help: "Partitions of each --topic.")
    var partitions: Int32 = 6

    @Option(name: .customLong("topic"), help: "A topic to create (repeatable).")
    var topics: [String] = []

    @Option(help: "Also write the bootstrap address to this file (written atomically).")
    var bootstrapFile: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...32).contains(brokers) else { throw ValidationError("--brokers must be between 1 and 32") }
        guard (1...10_000).contains(partitions) else { throw ValidationError("--partitions must be between 1 and 10000") }
        for topic in topics where !TopicPattern.isValidTopicName(topic) {
            throw ValidationError("'\(topic)' is not a valid topic name")
        }
    }

    func run() async throws {
        logging.bootstrap()
        let logger = Logger(label: "consumerd.dev-broker")
        let cluster = try EmbeddedCluster(brokers: brokers, logger: logger)
        for topic in topics {
            try cluster.createTopic(topic, partitions: partitions, replicationFactor: Int32(brokers))
        }
        if let bootstrapFile {
            let temporary = bootstrapFile + ".tmp"
            try Data((cluster.bootstrapServers + "\n").utf8).write(to: URL(fileURLWithPath: temporary))
            _ = rename(temporary, bootstrapFile)
        }
        // Scripts read the first line of stdout; write it unbuffered.
        FileHandle.standardOutput.write(Data((cluster.bootstrapServers + "\n").utf8))
        logger.info(
            "embedded cluster running",
            metadata: ["bootstrap_servers": "\(cluster.bootstrapServers)", "brokers": "\(brokers)", "topics": "\(topics.joined(separator: ","))"])
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: EmbeddedClusterService(cluster: cluster))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        logger.info("embedded cluster stopped")
    }
}
