import ConsumerManager
import Foundation
import Kafka
import Testing
import TestSupport

@Suite("ConsumerManager against the embedded cluster")
struct ConsumerManagerTests {
    @Test("every produced record lands in the sink and the group commits to the log end")
    func deliversAndCommits() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("trades")
        try fixture.cluster.createTopic(topic, partitions: 3)
        let status = try fixture.manager.create(fixture.spec("trades", topic: topic))
        #expect(status.desiredState == .running)

        try await fixture.produce((0..<200).map { #"{"seq":\#($0)}"# }, topic: topic)
        let bootstrap = fixture.cluster.bootstrapServers
        try await offPool { try PythonKafka.produce((0..<50).map { #"{"py":\#($0)}"# }, topic: topic, bootstrap: bootstrap) }

        #expect(await eventually { fixture.lines("trades").count >= 250 })
        let coordinates = fixture.coordinates("trades")
        #expect(coordinates.count == 250 && Set(coordinates).count == 250, "each record exactly once on a clean run")

        let admin = try KafkaAdmin(config: KafkaConfig(["bootstrap.servers": bootstrap]), logger: testLogger())
        let highs = try (0..<3).map { try admin.watermarks(TopicPartition(topic: topic, partition: Int32($0))).high }
        #expect(Set(coordinates) == allCoordinates(highs.map(Int.init)))
        #expect(await eventually {
            (try? fixture.manager.status("trades").partitions.compactMap(\.committedOffset)) == highs
        })
        #expect(try await fixture.committedOffsets(group: "consumerd-trades", topic: topic, partitions: 3) == highs)

        let running = try fixture.manager.status("trades")
        #expect(running.stats.recordsWritten == 250 && running.stats.messagesConsumed == 250)
        #expect(running.partitions.allSatisfy { $0.lag == 0 })
        #expect(running.health.isHealthy)
        let first = try #require(fixture.lines("trades").first)
        #expect(first["topic"] as? String == topic && first["value"] is [String: Any])
        await fixture.shutdown()
    }

    @Test("an idle consumer's status and stage counters show every batch it completed, without the periodic refresh")
    func idleConsumerPublishesItsBatches() async throws {
        // The periodic refresh runs once, at the start: whatever the status
        // and the counters show after that, the batches published.
        let fixture = try ManagerFixture(progressInterval: .seconds(3600))
        defer { fixture.remove() }
        let topic = uniqueName("idle")
        try fixture.cluster.createTopic(topic, partitions: 2)
        _ = try fixture.manager.create(fixture.spec("idle", topic: topic, maxRecords: 50))
        // Batches of 50 can complete faster than the 10 ms between two
        // publications: the last ones are published when the loop waits.
        try await fixture.produce((0..<2_000).map { #"{"n":\#($0)}"# }, topic: topic)

        #expect(await eventually { fixture.lines("idle").count >= 2_000 })
        #expect(await eventually { (try? fixture.manager.status("idle").stats.recordsWritten) == 2_000 })
        let stats = try fixture.manager.status("idle").stats
        #expect(stats.messagesConsumed == 2_000 && stats.batches >= 40)
        #expect(await eventually {
            fixture.registry.emitToString().contains(#"consumerd_stage_records_total{consumer="idle",stage="decode",outcome="kept"} 2000"#)
        })
        await fixture.shutdown()
    }

    @Test("a poison record stops the consumer before it: nothing past it is written or committed")
    func poisonRecord() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("poison")
        try fixture.cluster.createTopic(topic, partitions: 1)
        try await fixture.produce((0..<5).map { #"{"ok":\#($0)}"# } + ["{not json"] + (0..<5).map { #"{"after":\#($0)}"# }, topic: topic)
        _ = try fixture.manager.create(fixture.spec("poison", topic: topic, restart: .init(policy: .never)))

        #expect(await eventually { fixture.state("poison") == .failed })
        let status = try fixture.manager.status("poison")
        #expect(status.lastError?.stage == "decode")
        #expect(status.lastError?.message.contains("\(topic)[0]@5") == true)
        #expect(fixture.coordinates("poison").map(\.offset) == [0, 1, 2, 3, 4])
        #expect(try await fixture.committedOffsets(group: "consumerd-poison", topic: topic, partitions: 1) == [5])
        #expect(!status.health.isHealthy)
        #expect(status.health.reason?.contains("not restarting") == true)
        await fixture.shutdown()
    }

    @Test("pause stops progress and resume continues from where it stopped")
    func pauseResume() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("pausing")
        try fixture.cluster.createTopic(topic, partitions: 2)
        _ = try fixture.manager.create(fixture.spec("pausing", topic: topic))
        try await fixture.produce((0..<10).map { #"{"a":\#($0)}"# }, topic: topic, partition: 0)
        #expect(await eventually { fixture.lines("pausing").count == 10 })

        let pause = try fixture.manager.perform(.pause, on: "pausing")
        #expect(pause.changed)
        #expect(try await fixture.manager.waitForOutcome(pause, timeout: .seconds(10)).state == .paused)
        // Partition 1 has had neither a record nor a commit: its lag must
        // still count, from the log start.
        try await fixture.produce((10..<20).map { #"{"a":\#($0)}"# }, topic: topic, partition: 1)
        try await Task.sleep(for: .seconds(2))
        #expect(fixture.lines("pausing").count == 10, "nothing is written while paused")
        #expect(try fixture.manager.status("pausing").partitions.allSatisfy(\.paused))
        #expect(
            await eventually { (try? fixture.manager.status("pausing").partitions.compactMap(\.lag).reduce(0, +)) == 10 },
            "lag keeps growing while paused")

        let resume = try fixture.manager.perform(.resume, on: "pausing")
        _ = try await fixture.manager.waitForOutcome(resume, timeout: .seconds(10))
        #expect(await eventually { fixture.lines("pausing").count == 20 })
        #expect(Set(fixture.coordinates("pausing")).count == 20)
        await fixture.shutdown()
    }

    @Test("restarts in the middle of a stream lose nothing")
    func restartMidStream() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("stream")
        try fixture.cluster.createTopic(topic, partitions: 3)
        _ = try fixture.manager.create(fixture.spec("stream", topic: topic, maxRecords: 50))
        let producing = Task {
            for chunk in 0..<10 {
                try await fixture.produce((0..<200).map { #"{"chunk":\#(chunk),"i":\#($0)}"# }, topic: topic)
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        for _ in 0..<2 {
            try await Task.sleep(for: .seconds(1))
            let restart = try fixture.manager.perform(.restart, on: "stream")
            #expect(try await fixture.manager.waitForOutcome(restart, timeout: .seconds(20)).state == .running)
        }
        try await producing.value

        let admin = try KafkaAdmin(config: KafkaConfig(["bootstrap.servers": fixture.cluster.bootstrapServers]), logger: testLogger())
        let highs = try (0..<3).map { Int(try admin.watermarks(TopicPartition(topic: topic, partition: Int32($0))).high) }
        #expect(highs.reduce(0, +) == 2000)
        let expected = allCoordinates(highs)
        #expect(await eventually(timeout: .seconds(60)) { Set(fixture.coordinates("stream")).isSuperset(of: expected) })
        let status = try fixture.manager.status("stream")
        #expect(status.generation == 3 && status.restarts == 2)
        await fixture.shutdown()
    }

    @Test("a restarted manager restores its consumers and continues from the committed offsets")
    func restoreAfterRestart() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let topic = uniqueName("durable")
        try cluster.createTopic(topic, partitions: 2)

        let first = try ManagerFixture(cluster: cluster, directory: directory)
        _ = try first.manager.create(first.spec("durable", topic: topic))
        _ = try first.manager.create(first.spec("idle", topic: topic, autostart: false))
        try await first.produce((0..<30).map { #"{"n":\#($0)}"# }, topic: topic)
        #expect(await eventually { first.lines("durable").count == 30 })
        await first.shutdown()
        #expect(first.state("durable") == .stopped)

        try await first.produce((30..<50).map { #"{"n":\#($0)}"# }, topic: topic)
        let second = try ManagerFixture(cluster: cluster, directory: directory)
        #expect(Set(second.manager.restore().restored) == ["durable", "idle"])
        #expect(second.state("idle") == .stopped, "a consumer stopped on purpose stays stopped")
        #expect(await eventually { second.lines("durable").count >= 50 })
        try await Task.sleep(for: .seconds(1))
        let coordinates = second.coordinates("durable")
        #expect(coordinates.count == 50 && Set(coordinates).count == 50, "continued from the committed offsets, no replay")
        await second.shutdown()
    }

    @Test("failed consumers restart with backoff and give up after max_restarts")
    func restartPolicy() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("crashloop")
        try fixture.cluster.createTopic(topic, partitions: 1)
        try await fixture.produce(["not json"], topic: topic)
        let restart = ConsumerSpec.RestartSpec(policy: .onFailure, maxRestarts: 2, initialBackoffMilliseconds: 100, maxBackoffMilliseconds: 200)
        _ = try fixture.manager.create(fixture.spec("crashloop", topic: topic, restart: restart))

        #expect(await eventually(timeout: .seconds(60)) {
            guard let status = try? fixture.manager.status("crashloop") else { return false }
            return status.state == .failed && status.consecutiveFailures == 3 && status.nextRestartAt == nil
        })
        let status = try fixture.manager.status("crashloop")
        #expect(status.restarts == 2 && status.generation == 3)
        #expect(status.health.reason?.contains("not restarting") == true)
        #expect(fixture.manager.health().unhealthyNames == ["crashloop"])
        let metrics = fixture.registry.emitToString()
        #expect(metrics.contains(#"consumerd_restarts_total{consumer="crashloop",reason="failure"} 2"#))
        #expect(metrics.contains(#"consumerd_errors_total{consumer="crashloop",stage="decode"} 3"#))

        // Stopping it on purpose makes it healthy again.
        _ = try fixture.manager.perform(.stop, on: "crashloop")
        #expect(fixture.manager.health().unhealthy == 0)
        await fixture.shutdown()
    }

    @Test("a sink that cannot be opened fails the consumer without committing anything")
    func sinkFailure() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = uniqueName("blocked")
        try fixture.cluster.createTopic(topic, partitions: 1)
        try await fixture.produce(["{}"], topic: topic)
        // A regular file where the sink wants a directory.
        #expect(FileManager.default.createFile(atPath: "\(fixture.directory.path)/sinks/blocked", contents: Data()))
        var spec = fixture.spec("blocked", topic: topic, restart: .init(policy: .never))
        spec.sink = .file("blocked/out.jsonl")
        _ = try fixture.manager.create(spec)
        #expect(await eventually { fixture.state("blocked") == .failed })
        #expect(try fixture.manager.status("blocked").lastError?.stage == "sink")
        #expect(try await fixture.committedOffsets(group: "consumerd-blocked", topic: topic, partitions: 1) == [-1001])
        await fixture.shutdown()
    }

    @Test("delete drains a running consumer, then removes it and its spec file")
    func deleteRunning() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        _ = try await fixture.runningConsumer("doomed")
        #expect(FileManager.default.fileExists(atPath: "\(fixture.directory.path)/consumers/doomed.json"))
        guard case .stopping = try fixture.manager.delete("doomed") else {
            Issue.record("a running consumer should drain first")
            return
        }
        try await fixture.manager.waitUntilRemoved("doomed", timeout: .seconds(20))
        #expect(throws: ConsumerManagerError.self) { try fixture.manager.status("doomed") }
        #expect(!FileManager.default.fileExists(atPath: "\(fixture.directory.path)/consumers/doomed.json"))
        #expect(!fixture.registry.emitToString().contains(#"consumer="doomed""#))
        await fixture.shutdown()
    }

    @Test("conflicts: duplicate names, shared sink files, capacity, verbs that do not fit the state")
    func conflicts() async throws {
        let fixture = try ManagerFixture(maxConsumers: 2)
        defer { fixture.remove() }
        _ = try fixture.manager.create(fixture.spec("one", topic: "t1", autostart: false))
        #expect {
            try fixture.manager.create(fixture.spec("one", topic: "t2"))
        } throws: { ($0 as? ConsumerManagerError)?.kind == .alreadyExists }
        var shared = fixture.spec("two", topic: "t2", autostart: false)
        shared.sink = .file("one.jsonl")
        #expect {
            try fixture.manager.create(shared)
        } throws: { ($0 as? ConsumerManagerError)?.field == "sink.path" }
        // A file where another consumer's path needs a directory could never open.
        shared.sink = .file("one.jsonl/inside.jsonl")
        #expect {
            try fixture.manager.create(shared)
        } throws: { ($0 as? ConsumerManagerError)?.field == "sink.path" }
        _ = try fixture.manager.create(fixture.spec("two", topic: "t2", autostart: false))
        #expect {
            try fixture.manager.create(fixture.spec("three", topic: "t3", autostart: false))
        } throws: { ($0 as? ConsumerManagerError)?.kind == .limitExceeded }
        #expect {
            try fixture.manager.perform(.pause, on: "one")
        } throws: { ($0 as? ConsumerManagerError)?.kind == .conflict }
        #expect(try fixture.manager.perform(.stop, on: "one").changed == false, "stop on a stopped consumer is a no-op")
        #expect {
            try fixture.manager.perform(.start, on: "missing")
        } throws: { ($0 as? ConsumerManagerError)?.kind == .notFound }
        await fixture.shutdown()
    }

    @Test("100 racing restart calls: every restart counted happened, and merged calls count once")
    func racingRestarts() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        _ = try await fixture.runningConsumer("raced")
        try await offPool { [manager = fixture.manager] in
            DispatchQueue.concurrentPerform(iterations: 100) { _ in _ = try? manager.perform(.restart, on: "raced") }
        }
        #expect(await eventually(timeout: .seconds(60)) {
            guard let status = try? fixture.manager.status("raced") else { return false }
            return status.state == .running && status.desiredState == .running
        })
        let status = try fixture.manager.status("raced")
        // Run 1 was the first start; each restart counted launched one more run.
        #expect(status.restarts == status.generation - 1, "restarts \(status.restarts), generation \(status.generation)")
        #expect(status.restarts >= 1 && status.restarts <= 100)
        await fixture.shutdown()
    }

    @Test("replacing a running consumer's spec restarts it with the new spec")
    func replaceRunning() async throws {
        let fixture = try ManagerFixture()
        defer { fixture.remove() }
        let topic = try await fixture.runningConsumer("evolving")
        var updated = fixture.spec("evolving", topic: topic, maxRecords: 7)
        updated.format = .init(type: .string)
        let (answer, created) = try fixture.manager.replace("evolving", with: updated)
        #expect(!created)
        // The answer does not show the old run as if nothing happened.
        #expect(answer.spec.batch.maxRecords == 7)
        #expect(answer.state != .running || answer.generation == 2, "\(answer.state) in run \(answer.generation)")
        #expect(await eventually {
            guard let status = try? fixture.manager.status("evolving") else { return false }
            return status.generation == 2 && status.state == .running && status.spec.batch.maxRecords == 7
        })
        try await fixture.produce(["plain text, not JSON"], topic: topic)
        #expect(await eventually { fixture.lines("evolving").first?["value"] as? String == "plain text, not JSON" })
        #expect(fixture.registry.emitToString().contains(#"consumerd_restarts_total{consumer="evolving",reason="spec_update"} 1"#))
        #expect {
            try fixture.manager.replace("evolving", with: fixture.spec("other", topic: topic))
        } throws: { ($0 as? ConsumerManagerError)?.field == "name" }

        // A consumer told to stop stays stopped when its spec changes meanwhile.
        _ = try fixture.manager.perform(.stop, on: "evolving")
        _ = try fixture.manager.replace("evolving", with: fixture.spec("evolving", topic: topic, maxRecords: 9))
        #expect(await eventually { fixture.state("evolving") == .stopped })
        try await Task.sleep(for: .milliseconds(500))
        let stopped = try fixture.manager.status("evolving")
        #expect(stopped.state == .stopped && stopped.desiredState == .stopped && stopped.spec.batch.maxRecords == 9)
        await fixture.shutdown()
    }
}
