import Foundation
import Kafka
import Pipeline
import Sinks
import Testing
import TestSupport

/// The Redis sink against a throwaway redis-server, read back with redis-cli.
@Suite("Redis sink", .serialized, .enabled(if: ThrowawayServer.isAvailable(.redis), "needs Debian's redis-server (make deps)"))
struct RedisSinkTests {
    @Test("stream mode: XADD per record with the offsets in the same MULTI/EXEC; a repeated batch adds nothing")
    func stream() async throws {
        let server = try await ThrowawayServer.start(.redis)
        defer { server.close() }
        let spec = RedisSinkSpec(url: server.url, stream: "trades")
        try spec.validate()
        let sink = try spec.makeSink(in: sinkContext("rs"))
        defer { sink.close() }
        #expect(try await write(sink, try batch(0..<50)) == .written)
        #expect(try await write(sink, try batch(50..<80)) == .written)
        #expect(try await write(sink, try batch(50..<80)) == .written)
        #expect(try await write(sink, try batch(70..<90)) == .written)
        #expect(try await server.redis("XLEN", "trades") == "90")
        #expect(try await server.redis("HGET", "consumerd:offsets:g-rs", "t:0") == "90")
        let first = try await server.redis("XRANGE", "trades", "-", "+", "COUNT", "1")
        for expected in ["topic", "offset", "key", "k0", #"{"id":0,"name":"n0","price":0.0}"#] { #expect(first.contains(expected)) }
        let partition = TopicPartition(topic: "t", partition: 0)
        #expect(try sink.storedOffsets(for: [partition]) == [partition: 90])
    }

    @Test("aggregate mode: count, sum, min and max per key and window, each record counted once")
    func aggregate() async throws {
        let server = try await ThrowawayServer.start(.redis)
        defer { server.close() }
        let spec = RedisSinkSpec(url: server.url, mode: .aggregate, keyField: "name", valueField: "price", windowSeconds: 60, ttlSeconds: 600)
        try spec.validate()
        let sink = try spec.makeSink(in: sinkContext("agg"))
        defer { sink.close() }
        // Two keys; timestamps 1700000000 + i seconds fall in windows of 60 s.
        let value = { (i: Int) in #"{"name":"\#(i % 2 == 0 ? "even" : "odd")","price":\#(i)}"# }
        #expect(try await write(sink, try batch(0..<40, value: value)) == .written)
        #expect(try await write(sink, try batch(20..<40, value: value)) == .written)  // a repeat: counted once
        let window = 1_700_000_000 - 1_700_000_000 % 60
        let even = "consumerd:agg:agg:even:\(window)"
        #expect(try await server.redis("HGET", even, "count") == "\(Set(0..<40).filter { $0 % 2 == 0 && 1_700_000_000 + $0 < window + 60 }.count)")
        let evens = (0..<40).filter { $0 % 2 == 0 && 1_700_000_000 + $0 < window + 60 }
        #expect(try await server.redis("HGET", even, "sum") == "\(evens.reduce(0, +))")
        #expect(try await server.redis("HGET", even, "min") == "\(Double(evens.min()!))")
        #expect(try await server.redis("HGET", even, "max") == "\(Double(evens.max()!))")
        #expect(Int(try await server.redis("TTL", even)).map { $0 > 0 && $0 <= 600 } == true)
    }

    @Test("a server that goes away is a retriable error; after it returns the batch goes in once")
    func outage() async throws {
        let server = try await ThrowawayServer.start(.redis)
        defer { server.close() }
        let sink = try RedisSinkSpec(url: server.url).makeSink(in: sinkContext("down"))
        defer { sink.close() }
        #expect(try await write(sink, try batch(0..<10)) == .written)
        try await server.stop()
        await #expect {
            _ = try await write(sink, try batch(10..<20))
        } throws: { ($0 as? PipelineError)?.isRetriable == true }
        try await server.start()
        #expect(try await write(sink, try batch(10..<20)) == .written)
        #expect(try await server.redis("XLEN", "consumerd:down") == "20")
    }

    @Test("spec errors name the field; a password in the URL is masked")
    func specChecks() async throws {
        #expect(throws: SpecError.self) { try RedisSinkSpec(url: "http://x").validate() }
        #expect(throws: SpecError("key_field", "is required with mode: aggregate")) { try RedisSinkSpec(url: "redis://h", mode: .aggregate).validate() }
        #expect(throws: SpecError.self) { try RedisSinkSpec(url: "redis://h", stream: "a", streamField: "b").validate() }
        let secret = RedisSinkSpec(url: "redis://:pw@cache:6380/2")
        #expect(secret.redacted().url == "redis://:********@cache:6380/2")
        #expect(secret.redacted().restoringSecrets(from: secret) == secret)
    }
}
