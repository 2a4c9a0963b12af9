import ConsumerManager
import DataModel
import Foundation
import Kafka
import Pipeline
import Testing
import TestSupport

/// The record path on real records: produced with kcat and confluent-kafka
/// into the embedded cluster, read by a managed consumer, checked in its sink.
@Suite("Record path stages against the embedded cluster")
struct RecordPathTests {
    /// A spec from JSON, tuned for the mock cluster like the fixture's.
    static func spec(_ json: String, topic: String) throws -> ConsumerSpec {
        var spec = try StrictJSON.decode(ConsumerSpec.self, from: Array(json.replacingOccurrences(of: "TOPIC", with: topic).utf8))
        spec.kafka = fastConsumerProperties
        spec.batch = .init(maxRecords: 100, maxWaitMilliseconds: 200)
        spec.restart = .init(policy: .never)
        return spec
    }

    static func trade(_ symbol: String, _ sequence: Int, price: String = "10.5", quantity: Int = 2) -> String {
        #"{"symbol":"\#(symbol)","sequence_number":\#(sequence),"price":\#(price),"quantity":\#(quantity),"timestamp":"2025-11-23T17:19:34.891Z"}"#
    }

    @Test("validation drops, quality flags, sequence counts gaps, transforms compute and filter; dropped offsets still commit")
    func stages() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("stages")
        try fixture.cluster.createTopic(topic, partitions: 1)
        let spec = try Self.spec(#"""
            {"name": "stages", "topics": ["TOPIC"],
             "validation": {"schema": {"type": "object", "required": ["symbol", "price"],
                "properties": {"price": {"type": "number"}, "quantity": {"type": "integer", "minimum": 1}}}, "on_invalid": "drop"},
             "quality": {"rules": [{"check": "range", "field": "price", "max": 100}], "on_violation": "flag", "flag_field": "_quality"},
             "sequence": {"key_field": "symbol", "sequence_field": "sequence_number"},
             "transforms": [
               {"type": "compute", "field": "notional", "expression": "price * quantity"},
               {"type": "filter", "where": {"field": "symbol", "op": "!=", "value": "SKIP"}},
               {"type": "drop", "fields": ["timestamp"]}]}
            """#, topic: topic)
        _ = try fixture.manager.create(spec)
        let records = [
            Self.trade("AAPL", 1), Self.trade("AAPL", 2, price: "250"), Self.trade("MSFT", 1),
            Self.trade("AAPL", 5),  // A gap: 3 and 4 are missing.
            Self.trade("AAPL", 6, price: #""ten""#),  // Invalid: price is a string.
            Self.trade("SKIP", 1),  // Filtered.
            Self.trade("MSFT", 2, quantity: 0),  // Invalid: quantity below the minimum.
        ]
        try await fixture.produce(records, topic: topic)

        // The last record is dropped, yet the committed offset reaches the log end.
        #expect(await eventuallyAsync {
            (try? await fixture.committedOffsets(group: spec.groupID, topic: topic, partitions: 1)) == [7]
        })
        let lines = fixture.lines("stages")
        #expect(lines.map { $0["offset"] as? Int } == [0, 1, 2, 3])
        let values = lines.compactMap { $0["value"] as? [String: Any] }
        #expect(values.map { $0["notional"] as? Double } == [21, 500, 21, 21])
        #expect(values.allSatisfy { $0["timestamp"] == nil })
        #expect(values[1]["_quality"] as? [String] == ["range_price"])
        #expect(values[0]["_quality"] == nil)

        let status = try fixture.manager.status("stages")
        let validation = try #require(status.progress.stages.first { $0.stage == .validation })
        #expect(validation.input == 7 && validation.kept == 5)
        #expect(validation.rejected[.dropped] == ["type_mismatch": 1, "out_of_range": 1])
        #expect(validation.lastError == nil, "dropping is a decision, not an error")
        let transform = try #require(status.progress.stages.first { $0.stage == .transform })
        #expect(transform.rejected[.dropped] == ["filtered": 1])
        #expect(status.progress.qualityViolations == ["range_price": 1])
        let sequence = try #require(status.progress.sequence)
        #expect(sequence.gaps == 1 && sequence.missing == 2 && sequence.trackedKeys == 3)
        #expect(sequence.recentGaps.first.map { ($0.key, $0.expected, $0.received) } ?? ("", 0, 0) == ("AAPL", 3, 5))
        #expect(status.stats.recordsDropped == 3 && status.stats.recordsWritten == 4 && status.stats.messagesConsumed == 7)

        #expect(await eventually {
            let text = fixture.registry.emitToString()
            return text.contains(#"consumerd_stage_rejections_total{consumer="stages",stage="validation",outcome="dropped",reason="type_mismatch"} 1"#)
                && text.contains(#"consumerd_quality_violations_total{consumer="stages",rule="range_price"} 1"#)
                && text.contains(#"consumerd_sequence_gaps_total{consumer="stages"} 1"#)
                && text.contains(#"consumerd_stage_records_total{consumer="stages",stage="transform",outcome="dropped"} 1"#)
        })
        await fixture.shutdown()
    }

    @Test("a record rejected with on_invalid: fail stops the consumer before it, committing everything before")
    func rejectionStops() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("dlq-less")
        try fixture.cluster.createTopic(topic, partitions: 1)
        let spec = try Self.spec(#"""
            {"name": "strict", "topics": ["TOPIC"],
             "validation": {"schema": {"type": "object", "properties": {"price": {"type": "number"}}}, "on_invalid": "fail"}}
            """#, topic: topic)
        _ = try fixture.manager.create(spec)
        try await fixture.produce((0..<4).map { Self.trade("A", $0) } + [Self.trade("A", 4, price: "null")] + [Self.trade("A", 5)], topic: topic)

        #expect(await eventually { fixture.state("strict") == .failed })
        let status = try fixture.manager.status("strict")
        #expect(status.lastError?.stage == "validation")
        #expect(status.lastError?.message.contains("\(topic)[0]@4") == true)
        #expect(status.lastError?.message.contains("price: expected number, got null") == true)
        #expect(fixture.coordinates("strict").map(\.offset) == [0, 1, 2, 3])
        #expect(try await fixture.committedOffsets(group: spec.groupID, topic: topic, partitions: 1) == [4])
        await fixture.shutdown()
    }

    static let tradeSchema = #"""
        {"type": "record", "name": "Trade", "namespace": "market", "fields": [
          {"name": "symbol", "type": "string"},
          {"name": "sequence_number", "type": "long"},
          {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 4}},
          {"name": "quantity", "type": "int"},
          {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
          {"name": "venue", "type": ["null", "string"], "default": null},
          {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}
        """#
    /// Version 2 adds a field with a default.
    static let tradeSchemaV2 = tradeSchema.replacingOccurrences(
        of: #"{"name": "quantity", "type": "int"},"#, with: #"{"name": "quantity", "type": "int"}, {"name": "fees", "type": "double", "default": 0.5},"#)

    static func avroTrade(_ sequence: Int) -> [String: Any] {
        ["symbol": "AAPL", "sequence_number": sequence, "price": "189.1200", "quantity": 10, "side": "SELL",
         "venue": sequence % 2 == 0 ? "XNAS" : NSNull(), "timestamp": "2025-11-23T17:19:34.891Z"]
    }

    @Test("Avro from confluent-kafka's AvroSerializer reaches the sink as the documented JSON")
    func avroThroughRegistry() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let registry = try SchemaRegistryServer(directory: fixture.directory.path)
        defer { registry.stop() }
        let topic = uniqueName("avro")
        try fixture.cluster.createTopic(topic, partitions: 1)
        let spec = try Self.spec(#"""
            {"name": "avro", "topics": ["TOPIC"], "format": {"type": "avro", "schema_registry": {"url": "\#(registry.url)"}},
             "preset": "market-trades", "quality": {"rules": [{"check": "not_null", "field": "symbol"}]}}
            """#, topic: topic)
        _ = try fixture.manager.create(spec)
        let bootstrap = fixture.cluster.bootstrapServers
        try await offPool {
            try AvroProducer.produce((1...4).map(Self.avroTrade), schema: Self.tradeSchema, topic: topic, bootstrap: bootstrap, registry: registry.url)
        }
        #expect(await eventually { fixture.lines("avro").count == 4 })
        let value = try #require(fixture.lines("avro").first?["value"] as? [String: Any])
        #expect(value["symbol"] as? String == "AAPL" && value["sequence_number"] as? Int == 1)
        #expect(value["price"] as? String == "189.1200", "decimals are exact strings")
        #expect(value["side"] as? String == "SELL" && value["venue"] is NSNull)
        #expect(value["timestamp"] as? String == "2025-11-23T17:19:34.891Z")
        #expect(value["notional"] as? Double == 1891.2, "the preset's transform ran on the Avro record")
        let status = try fixture.manager.status("avro")
        #expect(status.progress.sequence?.gaps == 0 && status.progress.sequence?.trackedKeys == 1)
        await fixture.shutdown()
    }

    @Test("registry down for 10 s mid-stream: the partition waits, health is degraded, nothing is lost or poisoned")
    func registryOutage() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let registry = try SchemaRegistryServer(directory: fixture.directory.path)
        defer { registry.stop() }
        _ = try registry.register(subject: "warmup-value", schema: Self.tradeSchema)
        let v2 = try registry.register(subject: "warmup-value", schema: Self.tradeSchemaV2)
        let topic = uniqueName("outage")
        try fixture.cluster.createTopic(topic, partitions: 1)
        let spec = try Self.spec(#"""
            {"name": "outage", "topics": ["TOPIC"], "format": {"type": "avro", "schema_registry": {"url": "\#(registry.url)"}},
             "retry": {"initial_backoff_ms": 200, "max_backoff_ms": 1000}}
            """#, topic: topic)
        _ = try fixture.manager.create(spec)
        let bootstrap = fixture.cluster.bootstrapServers
        try await offPool {
            try AvroProducer.produce((0..<10).map(Self.avroTrade), schema: Self.tradeSchema, topic: topic, bootstrap: bootstrap, registry: registry.url)
        }
        #expect(await eventually { fixture.lines("outage").count == 10 })

        // The registry goes away; new records name a schema id the consumer has not seen.
        registry.stop()
        let outageStarted = ContinuousClock.now
        try await offPool {
            try AvroProducer.produce(
                (10..<20).map(Self.avroTrade), schema: Self.tradeSchemaV2, topic: topic, bootstrap: bootstrap, registry: registry.url, schemaID: v2)
        }
        #expect(await eventually { (try? fixture.manager.status("outage").health.status) == .degraded })
        let degraded = try fixture.manager.status("outage")
        #expect(degraded.state == .running)
        #expect(degraded.health.reason?.contains("schema registry unavailable") == true)
        #expect(degraded.health.reason?.contains("from offset 10") == true)
        #expect(try await fixture.committedOffsets(group: spec.groupID, topic: topic, partitions: 1) == [10], "nothing committed past the waiting record")
        try await Task.sleep(until: outageStarted + .seconds(10))
        #expect(fixture.lines("outage").count == 10)

        try registry.start()
        #expect(await eventually { fixture.lines("outage").count == 20 })
        let coordinates = fixture.coordinates("outage")
        #expect(coordinates.map(\.offset) == Array(0..<20), "0 lost, 0 duplicated")
        let value = try #require(fixture.lines("outage").last?["value"] as? [String: Any])
        #expect(value["fees"] as? Double == 0.5, "written with v2, read with its default")
        #expect(await eventually { (try? fixture.manager.status("outage").health.status) == .healthy })
        let status = try fixture.manager.status("outage")
        let decode = try #require(status.progress.stages.first)
        #expect(decode.total(.deadLettered) == 0 && decode.total(.dropped) == 0, "no good record became poison")
        #expect(decode.total(.failed) > 0, "the outage was seen and retried")
        #expect(status.generation == 1 && status.restarts == 0)
        // Committed a moment after the last write.
        #expect(await eventuallyAsync { (try? await fixture.committedOffsets(group: spec.groupID, topic: topic, partitions: 1)) == [20] })
        await fixture.shutdown()
    }
}
