import ConsumerManager
import Foundation
import Kafka
import Testing
import TestSupport

/// Taking a mock broker down closes its listener and binds a new one on the
/// same port at once; a child process spawned by another thread at that
/// moment still holds the old listener (fork copies descriptors before exec
/// closes them), the bind fails and librdkafka asserts, aborting the whole
/// test process. So these run one at a time, in a process of their own
/// (`make test-swift` runs them after the other suites, with
/// CONSUMERD_ISOLATED=FaultInjectionTests), where nothing else spawns.
@Suite(
    "Faults injected into the embedded cluster", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["CONSUMERD_ISOLATED"] == "FaultInjectionTests",
             "broker faults run in a process of their own: CONSUMERD_ISOLATED=FaultInjectionTests"))
struct FaultInjectionTests {
    @Test("a failed offset commit is counted, not fatal, and the next batch commits the stored offsets")
    func commitFailure() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("commits")
        try fixture.cluster.createTopic(topic, partitions: 1)
        // A wide batch window: the ten records below form exactly one batch,
        // so the one failed commit is the only commit attempted for them.
        _ = try fixture.manager.create(fixture.spec("committer", topic: topic, maxWaitMilliseconds: 2000))
        #expect(await eventually { (try? fixture.manager.status("committer").partitions.count) == 1 })

        // OFFSET_METADATA_TOO_LARGE is not retried inside librdkafka.
        fixture.cluster.failNextRequests(apiKey: KafkaAPIKey.offsetCommit, with: [KafkaError.Code(rawValue: 12)])
        try await fixture.produce((0..<10).map { #"{"a":\#($0)}"# }, topic: topic)
        #expect(await eventually { fixture.lines("committer").count == 10 })
        #expect(await eventually {
            fixture.registry.emitToString().contains(#"consumerd_commits_total{consumer="committer",result="failure"} 1"#)
        })
        #expect(try fixture.manager.status("committer").state == .running, "a failed commit does not fail the consumer")
        #expect(try await fixture.committedOffsets(group: "consumerd-committer", topic: topic, partitions: 1) == [-1001])

        try await fixture.produce((10..<15).map { #"{"a":\#($0)}"# }, topic: topic)
        #expect(await eventually { fixture.lines("committer").count == 15 })
        #expect(await eventuallyAsync {
            (try? await fixture.committedOffsets(group: "consumerd-committer", topic: topic, partitions: 1)) == [15]
        }, "the next commit carries every stored offset")
        await fixture.shutdown()
    }

    @Test("the consumer rides out a broker outage without losing records")
    func brokerOutage() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("outage")
        try fixture.cluster.createTopic(topic, partitions: 2)
        _ = try fixture.manager.create(fixture.spec("survivor", topic: topic))
        try await fixture.produce((0..<20).map { #"{"before":\#($0)}"# }, topic: topic)
        #expect(await eventually { fixture.lines("survivor").count == 20 })

        try fixture.cluster.setBrokerDown(1)
        // Statistics come every 5 s; 10 s without a broker reads as degraded.
        #expect(await eventually(timeout: .seconds(30)) {
            let health = try? fixture.manager.status("survivor").health
            return health?.status == .degraded && health?.reason?.contains("no broker reachable") == true
        }, "no broker for over 10 s: \(String(describing: try? fixture.manager.status("survivor").health))")
        #expect(try fixture.manager.status("survivor").state == .running)
        try fixture.cluster.setBrokerUp(1)

        try await fixture.produce((0..<20).map { #"{"after":\#($0)}"# }, topic: topic)
        #expect(await eventually(timeout: .seconds(60)) { Set(fixture.coordinates("survivor")).count == 40 })
        // Broker statistics come every few seconds; records and commit
        // answers count as contact at once.
        #expect(await eventually(timeout: .seconds(5)) { (try? fixture.manager.status("survivor").health.isHealthy) == true },
                "health after the outage: \(String(describing: try? fixture.manager.status("survivor").health))")
        await fixture.shutdown()
    }

    @Test("lost partitions: the batch in flight is discarded, never committed, and read again after rejoining")
    func lostPartitions() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("lost")
        try fixture.cluster.createTopic(topic, partitions: 1)
        // A wide batch window keeps the records in flight when the member is fenced.
        _ = try fixture.manager.create(fixture.spec("fenced", topic: topic, maxRecords: 1000, maxWaitMilliseconds: 4000))
        #expect(await eventually { (try? fixture.manager.status("fenced").partitions.count) == 1 })
        try await fixture.produce((0..<10).map { #"{"n":\#($0)}"# }, topic: topic)
        #expect(await eventually { (try? fixture.manager.status("fenced").partitions.first?.position) == 10 }, "all ten read")

        // The coordinator no longer knows the member: its partitions are lost.
        fixture.cluster.failNextRequests(apiKey: KafkaAPIKey.heartbeat, with: [KafkaError.Code(rawValue: 25)])
        #expect(await eventually {
            fixture.registry.emitToString().contains(#"consumerd_rebalances_total{consumer="fenced",kind="lost"} 1"#)
        })
        #expect(await eventually(timeout: .seconds(30)) { fixture.lines("fenced").count == 10 })
        let offsets = fixture.coordinates("fenced").map(\.offset)
        #expect(offsets == Array(0..<10), "written once, after rejoining: the lost batch was never written")
        #expect(await eventuallyAsync {
            (try? await fixture.committedOffsets(group: "consumerd-fenced", topic: topic, partitions: 1)) == [10]
        })
        await fixture.shutdown()
    }
}
