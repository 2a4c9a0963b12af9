import ConsumerManager
import DataModel
import Foundation
import Kafka
import Testing
import TestSupport

/// The dead-letter topic, read back with confluent-kafka.
@Suite("Dead-letter topic against the embedded cluster")
struct DeadLetterTests {
    static func spec(_ json: String, topic: String) throws -> ConsumerSpec {
        try RecordPathTests.spec(json, topic: topic)
    }

    @Test("poison records among good ones: exactly those in the dead-letter topic with their context, every good one in the sink")
    func poisonRecords() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("poison")
        try fixture.cluster.createTopic(topic, partitions: 2)
        let bootstrap = fixture.cluster.bootstrapServers
        var first = (0..<10).map { #"{"n":\#($0),"price":1}"# }
        first[3] = "{not json"
        first[7] = "\u{7}binary"
        var second = (0..<10).map { #"{"n":\#($0),"price":1}"# }
        second[5] = #"{"n":5,"price":"free"}"#
        try await offPool { [first, second] in
            try Kcat.produce(first.map { "k|\($0)" }, topic: topic, bootstrap: bootstrap, partition: 0, keySeparator: "|", headers: [("trace", "t-1")])
            try Kcat.produce(second, topic: topic, bootstrap: bootstrap, partition: 1)
        }
        let spec = try Self.spec(#"""
            {"name": "poison", "topics": ["TOPIC"], "dead_letter": {"topic": "{topic}.dlq"},
             "validation": {"schema": {"type": "object", "properties": {"price": {"type": "number"}}}}}
            """#, topic: topic)
        _ = try fixture.manager.create(spec)

        #expect(await eventuallyAsync {
            (try? await fixture.committedOffsets(group: spec.groupID, topic: topic, partitions: 2)) == [10, 10]
        })
        let written = Set(fixture.coordinates("poison"))
        let expectedGood = Set((0..<10).filter { ![3, 7].contains($0) }.map { Coordinate(partition: 0, offset: $0) }
            + (0..<10).filter { $0 != 5 }.map { Coordinate(partition: 1, offset: $0) })
        #expect(written == expectedGood && fixture.coordinates("poison").count == 17, "every good record once, no poison")

        let letters = try await offPool { try PythonKafka.read(topic: "\(topic).dlq", bootstrap: bootstrap) }
        let byOrigin = Dictionary(uniqueKeysWithValues: letters.map { (($0.headers["consumerd.original.partition"] ?? "") + "@" + ($0.headers["consumerd.original.offset"] ?? ""), $0) })
        #expect(byOrigin.keys.sorted() == ["0@3", "0@7", "1@5"], "exactly the three rejected records")
        let poison = try #require(byOrigin["0@3"])
        #expect(poison.value == "{not json" && poison.key == "k")
        #expect(poison.headers["trace"] == "t-1", "the original headers travel with the record")
        #expect(poison.headers["consumerd.original.topic"] == topic)
        #expect(poison.headers["consumerd.consumer"] == "poison" && poison.headers["consumerd.group"] == spec.groupID)
        #expect(poison.headers["consumerd.stage"] == "decode" && poison.headers["consumerd.error.type"] == "invalid_json")
        #expect(poison.headers["consumerd.error.message"]?.contains("invalid JSON") == true)
        #expect(poison.headers["consumerd.attempts"] == "1")
        #expect(poison.headers["consumerd.failed_at"].flatMap(CivilTime.parseTimestamp) != nil)
        #expect(Int64(poison.headers["consumerd.original.timestamp"] ?? "") != nil)
        let invalid = try #require(byOrigin["1@5"])
        #expect(invalid.headers["consumerd.stage"] == "validation" && invalid.headers["consumerd.error.type"] == "type_mismatch")
        #expect(invalid.headers["consumerd.error.message"] == "price: expected number, got string")

        let status = try fixture.manager.status("poison")
        #expect(status.state == .running && status.health.isHealthy, "a poison record no longer stops the consumer")
        #expect(status.stats.recordsDeadLettered == 3 && status.stats.recordsWritten == 17)
        #expect(fixture.registry.emitToString().contains(
            #"consumerd_dead_letter_records_total{consumer="poison",stage="decode",reason="invalid_json"} 2"#))
        await fixture.shutdown()
    }

    @Test("a dead-letter topic outage holds the batch: nothing committed, health degraded, then delivered once")
    func deadLetterOutage() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("dlq-down")
        let dlq = "\(topic).dlq"
        try fixture.cluster.createTopic(topic, partitions: 1)
        try fixture.cluster.createTopic(dlq, partitions: 1)
        fixture.cluster.setTopicError(dlq, .leaderNotAvailable)
        let spec = try Self.spec(#"""
            {"name": "held", "topics": ["TOPIC"], "dead_letter": {"topic": "TOPIC.dlq"},
             "retry": {"initial_backoff_ms": 100, "max_backoff_ms": 500}}
            """#, topic: topic)
        _ = try fixture.manager.create(spec)
        try await fixture.produce((0..<5).map { #"{"n":\#($0)}"# } + ["poison"] + (6..<10).map { #"{"n":\#($0)}"# }, topic: topic)

        #expect(await eventually { (try? fixture.manager.status("held").health.status) == .degraded })
        let held = try fixture.manager.status("held")
        #expect(held.health.reason?.contains("dead_letter") == true, "\(held.health.reason ?? "")")
        #expect(held.state == .running)
        #expect((try await fixture.committedOffsets(group: spec.groupID, topic: topic, partitions: 1)).allSatisfy { $0 < 6 },
                "nothing committed past the record the dead-letter topic has not acknowledged")

        fixture.cluster.setTopicError(dlq, .noError)
        #expect(await eventuallyAsync {
            (try? await fixture.committedOffsets(group: spec.groupID, topic: topic, partitions: 1)) == [10]
        })
        let bootstrap = fixture.cluster.bootstrapServers
        let letters = try await offPool { try PythonKafka.read(topic: dlq, bootstrap: bootstrap) }
        #expect(letters.map(\.value) == ["poison"], "delivered once")
        let offsets = fixture.coordinates("held").map(\.offset)
        #expect(offsets.sorted() == [0, 1, 2, 3, 4, 6, 7, 8, 9] && Set(offsets).count == offsets.count, "the sink is not written twice")
        #expect(await eventually { (try? fixture.manager.status("held").health.status) == .healthy })
        await fixture.shutdown()
    }
}
