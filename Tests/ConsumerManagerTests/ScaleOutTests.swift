import ConsumerManager
import Foundation
import Kafka
import Pipeline
import Testing
import TestSupport

@Suite("Scaling out: two managers share one consumer group")
struct ScaleOutTests {
    @Test("partitions spread over both and move back on stop, with nothing lost (cooperative-sticky)")
    func twoInstances() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let topic = uniqueName("shared")
        try cluster.createTopic(topic, partitions: 4)
        let first = try ManagerFixture(cluster: cluster)
        let second = try ManagerFixture(cluster: cluster)
        defer {
            first.remove()
            second.remove()
        }
        var spec = first.spec("shared", topic: topic, maxRecords: 50)
        spec.kafka["partition.assignment.strategy"] = "cooperative-sticky"

        _ = try first.manager.create(spec)
        try await first.produce((0..<200).map { #"{"phase":1,"i":\#($0)}"# }, topic: topic)
        #expect(await eventually { first.lines("shared").count >= 200 })

        _ = try second.manager.create(spec)
        #expect(await eventually(timeout: .seconds(60)) {
            let mine = (try? first.manager.status("shared").partitions.count) ?? 0
            let theirs = (try? second.manager.status("shared").partitions.count) ?? 0
            return mine > 0 && theirs > 0 && mine + theirs == 4
        }, "the group spreads the 4 partitions over both instances")
        try await first.produce((0..<200).map { #"{"phase":2,"i":\#($0)}"# }, topic: topic)
        #expect(await eventually(timeout: .seconds(60)) {
            Set(first.coordinates("shared")).union(second.coordinates("shared")).count >= 400
        }, "both instances consume their share while the group is split")

        // Stopping one instance hands its partitions back to the other.
        let stop = try second.manager.perform(.stop, on: "shared")
        _ = try await second.manager.waitForOutcome(stop, timeout: .seconds(30))
        #expect(await eventually(timeout: .seconds(60)) { (try? first.manager.status("shared").partitions.count) == 4 })
        try await first.produce((0..<100).map { #"{"phase":3,"i":\#($0)}"# }, topic: topic)

        let admin = try KafkaAdmin(config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers]), logger: testLogger())
        let highs = try (0..<4).map { Int(try admin.watermarks(TopicPartition(topic: topic, partition: Int32($0))).high) }
        #expect(highs.reduce(0, +) == 500)
        let expected = allCoordinates(highs)
        #expect(await eventually(timeout: .seconds(60)) {
            Set(first.coordinates("shared")).union(second.coordinates("shared")).isSuperset(of: expected)
        }, "every record reached one of the two sinks")
        await first.shutdown()
        await second.shutdown()
    }

    @Test("a revoke while the sink is down commits nothing past it: the new owner reads those records again",
          .enabled(if: TmpfsMount.isAvailable, "needs root to mount a tmpfs"))
    func revokeDuringSinkOutage() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let topic = uniqueName("revoke")
        try cluster.createTopic(topic, partitions: 2)
        let first = try ManagerFixture(cluster: cluster)
        let second = try ManagerFixture(cluster: cluster)
        let volume = try TmpfsMount(size: 16 << 10, at: "\(first.directory.path)/sinks/volume")
        defer {
            volume.unmount()
            first.remove()
            second.remove()
        }
        var spec = first.spec("mover", topic: topic, maxRecords: 20)
        spec.retry = RetrySpec(initialBackoffMilliseconds: 200, maxBackoffMilliseconds: 500)
        spec.sink = .file("volume/out.jsonl")
        _ = try first.manager.create(spec)
        #expect(await eventually { (try? first.manager.status("mover").partitions.count) == 2 })
        let padding = String(repeating: "x", count: 400)
        try await first.produce((0..<200).map { #"{"i":\#($0),"pad":"\#(padding)"}"# }, topic: topic)
        #expect(await eventually { (try? first.manager.status("mover").progress.retrying) != nil }, "the first sink fills up")

        // A second member with room joins: the first must give up partitions
        // while its batch cannot be written, and commit none of it.
        spec.sink = .file("out.jsonl")
        _ = try second.manager.create(spec)
        #expect(await eventually(timeout: .seconds(60)) { ((try? second.manager.status("mover").partitions.count) ?? 0) > 0 })
        try volume.resize(8 << 20)

        func delivered() -> [Coordinate] {
            first.coordinates(inFile: "\(volume.path)/out.jsonl") + second.coordinates(inFile: "\(second.directory.path)/sinks/out.jsonl")
        }
        let admin = try KafkaAdmin(config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers]), logger: testLogger())
        let highs = try (0..<2).map { Int(try admin.watermarks(TopicPartition(topic: topic, partition: Int32($0))).high) }
        #expect(highs.reduce(0, +) == 200)
        let expected = allCoordinates(highs)
        #expect(await eventually(timeout: .seconds(60)) { Set(delivered()).isSuperset(of: expected) },
                "every record reached one of the sinks: nothing was committed past an unwritten one")
        let arrived = delivered()
        print("revoke during a sink outage: produced 200, delivered \(Set(arrived).count), lost \(expected.subtracting(arrived).count), duplicated \(arrived.count - Set(arrived).count)")
        await first.shutdown()
        await second.shutdown()
    }
}
