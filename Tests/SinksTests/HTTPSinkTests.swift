import Foundation
import Kafka
import Pipeline
import Sinks
import Testing
import TestSupport

/// The HTTP sink against a Python endpoint that fails on purpose.
@Suite("HTTP sink")
struct HTTPSinkTests {
    @Test("a batch is one POST of JSON Lines with an idempotency key and the bearer token")
    func posts() async throws {
        let receiver = try await HTTPReceiver.start()
        let spec = HTTPSinkSpec(url: receiver.url, bearerToken: "t0ken")
        try spec.validate()
        let sink = try spec.makeSink(in: sinkContext("web"))
        #expect(try await write(sink, try batch(0..<20)) == .written)
        #expect(try await write(sink, try batch(20..<25)) == .written)
        let received = try await receiver.received()
        #expect(received.map(\.id) == Array(0..<25))
        #expect(Set(received.map(\.idempotencyKey)).count == 2)
        #expect(received.allSatisfy { $0.authorization == "Bearer t0ken" })
        #expect(try await receiver.statuses() == [204, 204])
    }

    @Test("503s are retriable; the retry carries the same idempotency key")
    func outage() async throws {
        let receiver = try await HTTPReceiver.start(failFirst: 2)
        let sink = try HTTPSinkSpec(url: receiver.url, format: .array).makeSink(in: sinkContext("down"))
        let records = try batch(0..<10)
        for _ in 0..<2 {
            await #expect {
                _ = try await write(sink, records)
            } throws: { ($0 as? PipelineError)?.isRetriable == true }
        }
        #expect(try await write(sink, records) == .written)
        #expect(try await receiver.received().map(\.id) == Array(0..<10))
        #expect(try await receiver.statuses() == [503, 503, 204])
    }

    @Test("a 422 for the batch: each record alone, and only those refused alone are set aside")
    func refusal() async throws {
        let receiver = try await HTTPReceiver.start(refuseIDs: [3, 7])
        let sink = try HTTPSinkSpec(url: receiver.url).makeSink(in: sinkContext("picky"))
        let result = try await write(sink, try batch(0..<10))
        guard case .writtenExcept(let refused) = result else {
            Issue.record("expected writtenExcept, got \(result)")
            return
        }
        #expect(refused.map(\.index) == [3, 7])
        #expect(refused.allSatisfy { $0.reason == "http_422" })
        #expect(try await receiver.received().map(\.id) == [0, 1, 2, 4, 5, 6, 8, 9])
    }

    @Test("spec errors name the field; the token is a secret")
    func specChecks() async throws {
        #expect(throws: SpecError.self) { try HTTPSinkSpec(url: "ftp://x").validate() }
        #expect(throws: SpecError.self) { try HTTPSinkSpec(url: "http://x", timeoutMilliseconds: 5).validate() }
        let secret = HTTPSinkSpec(url: "https://ingest.example/v1", bearerToken: "s3cret")
        #expect(secret.redacted().bearerToken == "********")
        #expect(secret.redacted().restoringSecrets(from: secret) == secret)
    }
}
