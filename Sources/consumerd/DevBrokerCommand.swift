import ArgumentParser
import ConsumerManager
import Foundation
import Kafka
import Logging
import ServiceLifecycle

/// `consumerd dev-broker`: librdkafka's mock Kafka cluster as a standalone
/// broker for local work and tests. Prints the bootstrap address, runs until
/// SIGTERM or SIGINT. With `--control`, it reads fault commands from standard
/// input, one per line, and answers `ok` or `error: …` on standard output:
///
///     down BROKER | up BROKER          take a broker off the network and back
///     rtt BROKER MILLISECONDS          delay a broker's responses
///     fail APIKEY ERRORCODE [COUNT]    fail the next COUNT requests of an API
///     coordinator GROUP BROKER         move a group's coordinator
///     topic-error TOPIC ERRORCODE      answer metadata for a topic with an error (0 clears)
///
/// Faults belong in their own process: taking a broker down re-binds its
/// listener, which a child process forked meanwhile would hold open.
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

    @Flag(help: "Read fault-injection commands from standard input (see the command's documentation).")
    var control = false

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
        if control { FaultControl.start(cluster: cluster, logger: logger) }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: EmbeddedClusterService(cluster: cluster))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        logger.info("embedded cluster stopped")
    }
}

/// Fault commands for a `dev-broker --control`, read on a thread of their own.
enum FaultControl {
    static func start(cluster: EmbeddedCluster, logger: Logger) {
        Thread.start(named: "fault-control") {
            while let line = readLine() {
                let answer: String
                do {
                    try apply(line.split(separator: " ").map(String.init), to: cluster)
                    answer = "ok"
                } catch {
                    answer = "error: \(error)"
                }
                logger.info("fault command", metadata: ["command": "\(line)", "answer": "\(answer)"])
                FileHandle.standardOutput.write(Data((answer + "\n").utf8))
            }
        }
    }

    struct BadCommand: Error, CustomStringConvertible {
        var description: String
    }

    static func apply(_ words: [String], to cluster: EmbeddedCluster) throws {
        func int(_ index: Int) throws -> Int32 {
            guard index < words.count, let value = Int32(words[index]) else { throw BadCommand(description: "expected a number in '\(words.joined(separator: " "))'") }
            return value
        }
        switch words.first {
        case "down": try cluster.setBrokerDown(try int(1))
        case "up": try cluster.setBrokerUp(try int(1))
        case "rtt": try cluster.setBrokerRTT(try int(1), .milliseconds(Int64(try int(2))))
        case "fail":
            let count = words.count > 3 ? Int(try int(3)) : 1
            cluster.failNextRequests(apiKey: Int16(try int(1)), with: Array(repeating: KafkaError.Code(rawValue: try int(2)), count: count))
        case "coordinator":
            guard words.count == 3 else { throw BadCommand(description: "coordinator GROUP BROKER") }
            try cluster.setCoordinator(group: words[1], brokerID: try int(2))
        case "topic-error":
            guard words.count == 3 else { throw BadCommand(description: "topic-error TOPIC CODE") }
            cluster.setTopicError(words[1], KafkaError.Code(rawValue: try int(2)))
        default:
            throw BadCommand(description: "unknown command '\(words.first ?? "")' (down, up, rtt, fail, coordinator, topic-error)")
        }
    }
}
