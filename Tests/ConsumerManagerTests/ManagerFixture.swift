import ConsumerManager
import Foundation
import Kafka
import Testing
import Pipeline
import Prometheus
import TestSupport

/// A manager over a fresh data directory and its own embedded cluster, with
/// the supervisor running.
final class ManagerFixture: Sendable {
    let cluster: EmbeddedCluster
    let directory: TemporaryDirectory
    let registry: PrometheusCollectorRegistry
    let manager: ConsumerManager
    private let supervisor: Task<Void, Never>

    init(
        cluster: EmbeddedCluster? = nil, directory: TemporaryDirectory? = nil, maxConsumers: Int = 256,
        progressInterval: Duration = .milliseconds(200)
    ) throws {
        self.cluster = try cluster ?? EmbeddedCluster(brokers: 1, logger: testLogger())
        self.directory = try directory ?? TemporaryDirectory()
        registry = PrometheusCollectorRegistry()
        var configuration = ConsumerManager.Configuration(
            dataDirectory: self.directory.path, kafka: KafkaConfig(["bootstrap.servers": self.cluster.bootstrapServers]))
        configuration.maxConsumers = maxConsumers
        configuration.healthInterval = .milliseconds(500)
        configuration.progressInterval = progressInterval
        manager = try ConsumerManager(
            configuration: configuration, metrics: ConsumerMetrics(registry: registry), logger: testLogger("manager"))
        let manager = manager
        supervisor = Task { await manager.supervise(every: .milliseconds(100)) }
    }

    /// A spec tuned for the mock cluster (short fetch waits and sessions).
    func spec(
        _ name: String, topic: String, maxRecords: Int = 100, maxWaitMilliseconds: Int = 200,
        restart: ConsumerSpec.RestartSpec = .init(initialBackoffMilliseconds: 100), autostart: Bool = true
    ) -> ConsumerSpec {
        ConsumerSpec(
            name: name, topics: [topic],
            batch: .init(maxRecords: maxRecords, maxWaitMilliseconds: maxWaitMilliseconds),
            kafka: fastConsumerProperties, restart: restart, autostart: autostart)
    }

    func sinkPath(_ name: String) -> String { "\(directory.path)/sinks/\(name).jsonl" }
    func lines(_ name: String) -> [[String: Any]] { jsonLines(sinkPath(name)) }

    /// (partition, offset) of every line in a consumer's sink file.
    func coordinates(_ name: String) -> [Coordinate] {
        coordinates(inFile: sinkPath(name))
    }

    /// (partition, offset) of every line in a sink file.
    func coordinates(inFile path: String) -> [Coordinate] {
        jsonLines(path).compactMap { line in
            guard let partition = line["partition"] as? Int, let offset = line["offset"] as? Int else { return nil }
            return Coordinate(partition: partition, offset: offset)
        }
    }

    func state(_ name: String) -> ConsumerState? { try? manager.status(name).state }

    /// Registers `name` on a new topic of its own and waits until it runs; returns the topic.
    func runningConsumer(_ name: String, partitions: Int32 = 1) async throws -> String {
        let topic = uniqueName(name)
        try cluster.createTopic(topic, partitions: partitions)
        _ = try manager.create(spec(name, topic: topic))
        #expect(await eventually { self.state(name) == .running })
        return topic
    }

    func produce(_ values: [String], topic: String, partition: Int32? = nil) async throws {
        let bootstrap = cluster.bootstrapServers
        try await offPool { try Kcat.produce(values, topic: topic, bootstrap: bootstrap, partition: partition) }
    }

    func committedOffsets(group: String, topic: String, partitions: Int) async throws -> [Int64] {
        let bootstrap = cluster.bootstrapServers
        return try await offPool {
            try PythonKafka.committedOffsets(group: group, topic: topic, partitions: partitions, bootstrap: bootstrap)
        }
    }

    func shutdown() async {
        await manager.shutdown()
        supervisor.cancel()
    }

    func remove() { directory.remove() }
}

struct Coordinate: Hashable, Comparable {
    var partition: Int
    var offset: Int

    static func < (lhs: Coordinate, rhs: Coordinate) -> Bool {
        (lhs.partition, lhs.offset) < (rhs.partition, rhs.offset)
    }
}

/// Every offset of every partition up to its high watermark, as a set.
func allCoordinates(_ highWatermarks: [Int]) -> Set<Coordinate> {
    Set(highWatermarks.enumerated().flatMap { partition, high in
        (0..<high).map { Coordinate(partition: partition, offset: $0) }
    })
}
