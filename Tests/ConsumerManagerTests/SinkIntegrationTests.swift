import ConsumerManager
import Foundation
import Kafka
import Pipeline
import Sinks
import Testing
import TestSupport

/// Sinks that keep their own offsets, under the consumer loop: records the
/// sink refuses go to the dead-letter topic before the sink commits past
/// them, and a sink that cannot say where to resume holds its partitions.
@Suite("Sinks under the consumer loop", .serialized, .enabled(if: ThrowawayServer.isAvailable(.postgresql), "needs Debian's postgresql (make deps)"))
struct SinkIntegrationTests {
    @Test("rows PostgreSQL refuses are dead-lettered, the rest written once, offsets stored past both")
    func refusedRowsToTheDeadLetterTopic() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let server = try await ThrowawayServer.start(.postgresql)
        defer { server.close() }
        _ = try await server.query("CREATE TABLE strict (kafka_topic text, kafka_partition int, kafka_offset bigint, n bigint CHECK (n >= 0))")
        let topic = uniqueName("refused")
        try fixture.cluster.createTopic(topic, partitions: 1)
        var spec = try RecordPathTests.spec(#"{"name": "strict", "topics": ["TOPIC"], "dead_letter": {"topic": "TOPIC.dlq"}}"#, topic: topic)
        spec.sink = SinkSection(PostgresSinkSpec(url: server.url, table: "strict", mode: .columns))
        _ = try fixture.manager.create(spec)
        // -1 breaks the CHECK, "x" is no bigint: both refused by PostgreSQL alone.
        let values = (0..<20).map { $0 == 5 ? #"{"n":-1}"# : $0 == 12 ? #"{"n":"x"}"# : #"{"n":\#($0)}"# }
        try await fixture.produce(values, topic: topic)

        #expect(await eventuallyAsync(timeout: .seconds(30)) { (try? await server.query("SELECT count(*) FROM strict")) == ["18"] })
        let bootstrap = fixture.cluster.bootstrapServers
        #expect(await eventuallyAsync {
            (try? await offPool { try PythonKafka.read(topic: "\(topic).dlq", bootstrap: bootstrap) })?.count == 2
        })
        let letters = try await offPool { try PythonKafka.read(topic: "\(topic).dlq", bootstrap: bootstrap) }
        #expect(letters.compactMap { $0.headers["consumerd.original.offset"] }.sorted() == ["12", "5"])
        #expect(letters.allSatisfy { $0.headers["consumerd.stage"] == "sink" })
        #expect(Set(letters.compactMap { $0.headers["consumerd.error.type"] }) == ["23514", "22P02"])
        #expect(try await server.query("SELECT next_offset FROM consumerd_offsets") == ["20"])
        #expect(try await server.query("SELECT count(DISTINCT kafka_offset) FROM strict") == ["18"])
        #expect(try fixture.manager.status("strict").stats.recordsDeadLettered == 2)
        await fixture.shutdown()
    }

    @Test("a sink that cannot say where to resume holds its partitions until it can; then every record once")
    func unknownResumePoint() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let server = try await ThrowawayServer.start(.postgresql)
        defer { server.close() }
        let topic = uniqueName("resume")
        try fixture.cluster.createTopic(topic, partitions: 2)
        var spec = fixture.spec("resume", topic: topic)
        spec.retry = RetrySpec(initialBackoffMilliseconds: 200, maxBackoffMilliseconds: 1000)
        spec.sink = SinkSection(PostgresSinkSpec(url: server.url, table: "events", createTable: true))
        _ = try fixture.manager.create(spec)
        try await fixture.produce((0..<50).map { #"{"n":\#($0)}"# }, topic: topic)
        #expect(await eventuallyAsync(timeout: .seconds(30)) { (try? await server.query("SELECT count(*) FROM events")) == ["50"] })

        // Down before the next assignment: the restarted run cannot ask where to resume.
        try await server.stop()
        _ = try fixture.manager.perform(.restart, on: "resume")
        try await fixture.produce((50..<100).map { #"{"n":\#($0)}"# }, topic: topic)
        #expect(await eventually(timeout: .seconds(30)) {
            (try? fixture.manager.status("resume").lastError?.message.contains("where to resume is unknown")) == true
        })
        try await server.start()
        #expect(await eventuallyAsync(timeout: .seconds(30)) { (try? await server.query("SELECT count(*) FROM events")) == ["100"] })
        #expect(try await server.query("SELECT count(DISTINCT (kafka_partition, kafka_offset)) FROM events") == ["100"])
        await fixture.shutdown()
    }
}
