@testable import ConsumerManager
import Foundation
import Kafka
import Pipeline
import Testing
import TestSupport

/// Paths that are easy to get wrong and rarely taken: damaged spec files at
/// start-up, a full disk under the spec store or the sink while an operator
/// acts, and the byte limit of a batch.
@Suite("Edge cases: start-up, persistence, retries, batch limits")
struct EdgeCaseTests {
    @Test("damaged spec files at start-up are skipped with the file named; the others load")
    func damagedSpecFiles() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try ManagerFixture(cluster: cluster, directory: directory)
        _ = try first.manager.create(first.spec("good", topic: "t", autostart: false))
        _ = try first.manager.create(first.spec("renamed", topic: "t", autostart: false))
        await first.shutdown()

        let specs = "\(directory.path)/consumers"
        let good = try String(contentsOfFile: "\(specs)/good.json", encoding: .utf8)
        try #"{"version": 1, "spec": {"name": "garbage", "#.write(toFile: "\(specs)/garbage.json", atomically: true, encoding: .utf8)
        try good.replacingOccurrences(of: #""max_records" : 100"#, with: #""max_records" : 0"#)
            .replacingOccurrences(of: #""good""#, with: #""invalid""#)
            .write(toFile: "\(specs)/invalid.json", atomically: true, encoding: .utf8)
        try FileManager.default.moveItem(atPath: "\(specs)/renamed.json", toPath: "\(specs)/elsewhere.json")

        let second = try ManagerFixture(cluster: cluster, directory: directory)
        let report = second.manager.restore()
        #expect(report.restored == ["good"])
        #expect(report.skipped.count == 3)
        for file in ["garbage.json", "invalid.json", "elsewhere.json"] {
            #expect(report.skipped.contains { $0.contains("\(specs)/\(file)") }, "names \(file): \(report.skipped)")
        }
        #expect(report.skipped.contains { $0.contains("invalid.json") && $0.contains("batch.max_records") })
        #expect(report.skipped.contains { $0.contains("elsewhere.json") && $0.contains("renamed") })
        #expect(second.manager.list().map(\.name) == ["good"])
        await second.shutdown()
    }

    @Test("a spec that cannot be saved is a persistence error, and the consumer is not registered",
          .enabled(if: TmpfsMount.isAvailable, "needs root to mount a tmpfs"))
    func persistenceFailure() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // A spec store that cannot hold a single file.
        let store = try TmpfsMount(size: 64 << 10, at: "\(directory.path)/consumers", inodes: 1)
        defer { store.unmount() }
        let fixture = try ManagerFixture(directory: directory)
        #expect {
            _ = try fixture.manager.create(fixture.spec("unsaved", topic: "t"))
        } throws: { error in
            (error as? ConsumerManagerError)?.kind == .persistence
        }
        #expect(fixture.manager.list().isEmpty, "nothing half-registered")
        #expect(fixture.state("unsaved") == nil)
        await fixture.shutdown()
    }

    @Test("a stop while a sink write is retried ends the run at once, committing nothing past the sink",
          .enabled(if: TmpfsMount.isAvailable, "needs root to mount a tmpfs"))
    func stopDuringRetry() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let volume = try TmpfsMount(size: 16 << 10, at: "\(fixture.directory.path)/sinks/volume")
        defer { volume.unmount() }
        let topic = uniqueName("retry")
        try fixture.cluster.createTopic(topic, partitions: 1)
        var spec = fixture.spec("retry", topic: topic, maxRecords: 20)
        spec.sink = .file("volume/out.jsonl")
        // A backoff far longer than any stop may take, even on a loaded machine:
        // a stop that waited it out would be unmistakable.
        spec.retry = RetrySpec(initialBackoffMilliseconds: 30_000, maxBackoffMilliseconds: 60_000)
        _ = try fixture.manager.create(spec)
        let padding = String(repeating: "x", count: 400)
        try await fixture.produce((0..<200).map { #"{"n":\#($0),"pad":"\#(padding)"}"# }, topic: topic)
        #expect(await eventually { (try? fixture.manager.status("retry").progress.retrying) != nil }, "the disk fills up")
        let written = jsonLines("\(volume.path)/out.jsonl").count
        #expect(written < 200)

        let asked = ContinuousClock.now
        _ = try fixture.manager.perform(.stop, on: "retry")
        #expect(await eventually(timeout: .seconds(25)) { fixture.state("retry") == .stopped })
        #expect(ContinuousClock.now - asked < .seconds(20), "the stop does not wait out the 30 s backoff")
        let committed = try await fixture.committedOffsets(group: spec.groupID, topic: topic, partitions: 1)
        #expect(committed == [Int64(written)], "committed exactly what the sink holds")
        #expect(jsonLines("\(volume.path)/out.jsonl").count == written, "no partial batch left behind")

        try volume.resize(8 << 20)
        _ = try fixture.manager.perform(.start, on: "retry")
        #expect(await eventually { jsonLines("\(volume.path)/out.jsonl").count == 200 })
        let offsets = jsonLines("\(volume.path)/out.jsonl").compactMap { $0["offset"] as? Int }
        #expect(offsets == Array(0..<200), "every record once, in order")
        await fixture.shutdown()
    }

    @Test("max_bytes closes a batch long before max_records or max_wait")
    func maxBytes() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("bytes")
        try fixture.cluster.createTopic(topic, partitions: 1)
        var spec = fixture.spec("bytes", topic: topic, maxRecords: 100_000, maxWaitMilliseconds: 300_000)
        spec.batch.maxBytes = 1024
        _ = try fixture.manager.create(spec)
        #expect(await eventually { (try? fixture.manager.status("bytes").partitions.count) == 1 })
        // 32 values of exactly 128 bytes, no keys: four batches of 1024 bytes.
        let value = { (n: Int) in #"{"n":\#(n),"pad":""#.padding(toLength: 126, withPad: "x", startingAt: 0) + #""}"# }
        #expect(value(7).utf8.count == 128)
        try await fixture.produce((10..<42).map(value), topic: topic)
        #expect(await eventually(timeout: .seconds(20)) { fixture.lines("bytes").count == 32 },
                "with max_wait at five minutes, only the byte limit writes these")
        // A batch counts once committed, a moment after its write.
        #expect(await eventually { (try? fixture.manager.status("bytes").stats.batches) == 4 })
        await fixture.shutdown()
    }

    @Test("consumers with different max_wait_ms report batches into one registry")
    func batchMetricsAcrossConsumers() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("waits")
        try fixture.cluster.createTopic(topic, partitions: 1)
        _ = try fixture.manager.create(fixture.spec("quick", topic: topic, maxWaitMilliseconds: 100))
        _ = try fixture.manager.create(fixture.spec("patient", topic: topic, maxWaitMilliseconds: 1500))
        try await fixture.produce((0..<10).map { #"{"n":\#($0)}"# }, topic: topic)
        #expect(await eventually { fixture.lines("quick").count == 10 && fixture.lines("patient").count == 10 })
        #expect(await eventually {
            let text = fixture.registry.emitToString()
            return ["quick", "patient"].allSatisfy { name in
                text.contains(#"consumerd_batch_duration_seconds_count{consumer="\#(name)"}"#)
                    && text.contains(#"consumerd_batch_wait_ratio_count{consumer="\#(name)"}"#)
            }
        })
        await fixture.shutdown()
    }
}
