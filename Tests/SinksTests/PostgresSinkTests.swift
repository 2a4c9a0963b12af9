import DataModel
import Foundation
import Kafka
import Pipeline
import Sinks
import Testing
import TestSupport

/// The PostgreSQL sink against a throwaway server, read back with psql. One
/// at a time: starting PostgreSQL is heavy on two cores, and the HTTP tests
/// running alongside answer within seconds.
@Suite("PostgreSQL sink", .serialized, .enabled(if: ThrowawayServer.isAvailable(.postgresql), "needs Debian's postgresql (make deps)"))
struct PostgresSinkTests {
    /// One server for the tests that do not stop it (each uses its own table and group).
    static let shared = Task { try await ThrowawayServer.start(.postgresql) }

    @Test("rows and offsets in one transaction; a repeated batch writes nothing twice; offsets say where to resume")
    func exactlyOnce() async throws {
        let server = try await Self.shared.value
        let spec = PostgresSinkSpec(url: server.url, table: "fills", createTable: true)
        try spec.validate()
        let sink = try spec.makeSink(in: sinkContext("pg"))
        defer { sink.close() }
        #expect(sink.commits == .sinkStoresOffsets)

        #expect(try await write(sink, try batch(0..<100)) == .written)
        #expect(try await write(sink, try batch(100..<150)) == .written)
        // The same records again, as after a commit whose answer was lost.
        #expect(try await write(sink, try batch(100..<150)) == .written)
        // And a batch that overlaps what is stored: only the new rows go in.
        #expect(try await write(sink, try batch(140..<160)) == .written)

        #expect(try await server.query("SELECT count(*), count(DISTINCT kafka_offset), min(kafka_offset), max(kafka_offset) FROM fills") == ["160|160|0|159"])
        #expect(try await server.query("SELECT value->>'name', key, kafka_topic, kafka_partition FROM fills WHERE kafka_offset = 7") == ["n7|k7|t|0"])
        #expect(try await server.query("SELECT kafka_timestamp = to_timestamp(1700000007) FROM fills WHERE kafka_offset = 7") == ["t"])
        #expect(try await server.query("SELECT group_id, topic, partition, next_offset FROM consumerd_offsets WHERE group_id = 'g-pg'") == ["g-pg|t|0|160"])
        let partition = TopicPartition(topic: "t", partition: 0)
        #expect(try sink.storedOffsets(for: [partition, TopicPartition(topic: "t", partition: 1)]) == [partition: 160])
    }

    @Test("columns mode: a table created from the validation schema, each field in its typed column")
    func columns() async throws {
        let server = try await Self.shared.value
        let schema = try JSONParser.parse(Array(#"""
            {"type": "object", "properties": {
              "id": {"type": "integer"}, "name": {"type": "string"}, "price": {"type": "number"},
              "seen": {"type": "string", "format": "date-time"}, "tags": {"type": "array"}}}
            """#.utf8))
        let spec = PostgresSinkSpec(url: server.url, table: "public.trades", mode: .columns, createTable: true)
        let sink = try spec.makeSink(in: sinkContext("cols", recordSchema: schema))
        defer { sink.close() }
        let written = try await write(sink, try batch(0..<3) { #"{"id":\#($0),"name":"a\tb\\c\n\#($0)","price":2.5,"seen":"2026-11-25T10:00:0\#($0)Z","tags":[1,2]}"# })
        #expect(written == .written)
        let types = try await server.query(
            "SELECT column_name || ':' || data_type FROM information_schema.columns WHERE table_name = 'trades' ORDER BY ordinal_position")
        #expect(types == [
            "kafka_topic:text", "kafka_partition:integer", "kafka_offset:bigint", "kafka_timestamp:timestamp with time zone", "key:text",
            "id:bigint", "name:text", "price:double precision", "seen:timestamp with time zone", "tags:jsonb",
        ])
        #expect(try await server.query(#"SELECT id, name = E'a\tb\\c\n1', price, extract(epoch FROM seen), tags->>1 FROM trades WHERE id = 1"#)
            == ["1|t|2.5|1795600801.000000|2"])
    }

    @Test("a row PostgreSQL refuses is named, and nothing of the batch is written")
    func rejection() async throws {
        let server = try await Self.shared.value
        _ = try await server.query("CREATE TABLE strict (kafka_topic text, kafka_partition int, kafka_offset bigint, id bigint CHECK (id <> 3))")
        let spec = PostgresSinkSpec(url: server.url, table: "strict", mode: .columns)
        let sink = try spec.makeSink(in: sinkContext("strict"))
        defer { sink.close() }
        let result = try await write(sink, try batch(0..<6) { $0 == 4 ? #"{"id":"four"}"# : #"{"id":\#($0)}"# })
        guard case .rejected(let refused) = result else {
            Issue.record("expected rejected, got \(result)")
            return
        }
        #expect(refused.map(\.index) == [3, 4])
        #expect(refused.map(\.reason) == ["23514", "22P02"])
        #expect(try await server.query("SELECT count(*) FROM strict") == ["0"])
        #expect(try await server.query("SELECT count(*) FROM consumerd_offsets WHERE group_id = 'g-strict'") == ["0"])
    }

    @Test("a server that goes away is a retriable error; after it returns the batch goes in once")
    func outage() async throws {
        let server = try await ThrowawayServer.start(.postgresql)
        defer { server.close() }
        let sink = try PostgresSinkSpec(url: server.url, table: "events", createTable: true).makeSink(in: sinkContext("outage"))
        defer { sink.close() }
        #expect(try await write(sink, try batch(0..<10)) == .written)
        try await server.stop()
        await #expect {
            _ = try await write(sink, try batch(10..<20))
        } throws: { error in
            (error as? PipelineError)?.isRetriable == true && (error as? PipelineError)?.stage == .sink
        }
        try await server.start()
        #expect(try await write(sink, try batch(10..<20)) == .written)
        #expect(try await server.query("SELECT count(*), count(DISTINCT kafka_offset) FROM events") == ["20|20"])
    }

    @Test("spec errors name the field; the password is masked and restored")
    func specChecks() async throws {
        #expect(throws: SpecError("url", "must be a postgresql:// URL of at most 2048 bytes")) {
            try PostgresSinkSpec(url: "mysql://x", table: "t").validate()
        }
        #expect(throws: SpecError.self) { try PostgresSinkSpec(url: "postgresql://h/db", table: "t; DROP TABLE x").validate() }
        #expect(throws: SpecError.self) { try PostgresSinkSpec(url: "postgresql://h/db", table: "t", columns: ["a": "b"]).validate() }
        let secret = PostgresSinkSpec(url: "postgresql://app:s3cret@db:5432/x", table: "t")
        #expect(secret.redacted().url == "postgresql://app:********@db:5432/x")
        #expect(secret.redacted().holdsMaskedSecret)
        #expect(secret.redacted().restoringSecrets(from: secret).url == secret.url)
        #expect(!secret.target(in: sinkContext()).contains("s3cret"))
    }
}
