import Foundation
import Kafka
import Synchronization
import Testing
import TestSupport

/// Records what the consumer's group callbacks reported.
final class RecordingDelegate: KafkaConsumerDelegate {
    var assigned: [TopicPartition] = []
    var revoked: [TopicPartition] = []
    var lost: [TopicPartition] = []
    var errors: [KafkaError] = []

    func consumer(_ consumer: KafkaConsumer, didAssign partitions: [TopicPartition]) { assigned += partitions }
    func consumer(_ consumer: KafkaConsumer, willRevoke partitions: [TopicPartition]) { revoked += partitions }
    func consumer(_ consumer: KafkaConsumer, didLose partitions: [TopicPartition]) { lost += partitions }
    func consumer(_ consumer: KafkaConsumer, didReport error: KafkaError) { errors.append(error) }
}

func makeConsumer(_ cluster: EmbeddedCluster, group: String, extra: [String: String] = [:]) throws -> KafkaConsumer {
    try KafkaConsumer(
        config: KafkaConfig([
            "bootstrap.servers": cluster.bootstrapServers, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": "false", "enable.auto.offset.store": "false",
        ]).merging(fastConsumerProperties).merging(extra),
        logger: testLogger())
}

/// Polls until `count` records arrived or `timeout` passed, in short slices
/// that give the cooperative pool back between polls (other suites' async
/// work runs there).
func poll(_ consumer: KafkaConsumer, count: Int, timeout: Duration = .seconds(30)) async throws -> [KafkaMessage] {
    var messages: [KafkaMessage] = []
    let deadline = ContinuousClock.now + timeout
    while messages.count < count, ContinuousClock.now < deadline {
        if let message = try consumer.poll(timeout: .milliseconds(10)) {
            messages.append(message)
        } else {
            await Task.yield()
        }
    }
    return messages
}

/// kcat, run on its own thread.
func produce(_ lines: [String], topic: String, cluster: EmbeddedCluster, partition: Int32? = nil, keySeparator: Character? = nil) async throws {
    let bootstrap = cluster.bootstrapServers
    try await offPool { try Kcat.produce(lines, topic: topic, bootstrap: bootstrap, partition: partition, keySeparator: keySeparator) }
}

@Suite("KafkaConsumer against the embedded cluster")
struct KafkaConsumerTests {
    @Test("reads what kcat produced, with keys, offsets and timestamps")
    func consumesKcatRecords() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let topic = uniqueName("orders")
        try cluster.createTopic(topic, partitions: 1)
        let lines = (0..<50).map { #"k\#($0):{"n":\#($0)}"# }
        try await produce(lines, topic: topic, cluster: cluster, keySeparator: ":")

        let consumer = try makeConsumer(cluster, group: uniqueName("g"))
        try consumer.subscribe(topics: [topic])
        let messages = try await poll(consumer, count: 50)
        #expect(messages.count == 50)
        #expect(messages.map(\.offset) == Array(0..<50))
        #expect(messages.first.map { String(decoding: $0.key ?? [], as: UTF8.self) } == "k0")
        #expect(messages.last.map { String(decoding: $0.value ?? [], as: UTF8.self) } == #"{"n":49}"#)
        #expect(messages.allSatisfy { $0.topic == topic && $0.timestamp != nil })
        try consumer.close()
    }

    @Test("stored offsets are committed and seen by confluent-kafka and the admin client")
    func storeAndCommit() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let topic = uniqueName("commits")
        let group = uniqueName("g")
        try cluster.createTopic(topic, partitions: 2)
        try await produce((0..<10).map { "v\($0)" }, topic: topic, cluster: cluster, partition: 0)
        try await produce((0..<4).map { "w\($0)" }, topic: topic, cluster: cluster, partition: 1)

        let consumer = try makeConsumer(cluster, group: group)
        try consumer.subscribe(topics: [topic])
        let messages = try await poll(consumer, count: 14)
        #expect(messages.count == 14)
        #expect(try consumer.commit().nothingToCommit, "nothing stored yet, so nothing to commit")

        // Store only part of partition 0: the commit must carry exactly that.
        try consumer.store([
            TopicPartitionOffset(TopicPartition(topic: topic, partition: 0), offset: 7),
            TopicPartitionOffset(TopicPartition(topic: topic, partition: 1), offset: 4),
        ])
        let committed = try consumer.commit()
        #expect(!committed.nothingToCommit)
        #expect(committed.offsets.compactMap(\.offset).sorted() == [4, 7])
        try consumer.close()

        let bootstrap = cluster.bootstrapServers
        let seen = try await offPool {
            try PythonKafka.committedOffsets(group: group, topic: topic, partitions: 2, bootstrap: bootstrap)
        }
        #expect(seen == [7, 4])

        let admin = try KafkaAdmin(config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers]), logger: testLogger())
        let lag = try admin.lag(group: group, topic: topic)
        #expect(lag.map(\.committedOffset) == [7, 4])
        #expect(lag.map(\.highWatermark) == [10, 4])
        #expect(lag.map(\.lag) == [3, 0])
    }

    @Test("a regex subscription picks up every matching topic")
    func patternSubscription() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let prefix = uniqueName("market").replacingOccurrences(of: "-", with: "")
        for suffix in ["trades", "quotes"] {
            try cluster.createTopic("\(prefix).\(suffix)", partitions: 1)
            try await produce(["\(suffix)-1", "\(suffix)-2"], topic: "\(prefix).\(suffix)", cluster: cluster)
        }
        try cluster.createTopic("other\(prefix)", partitions: 1)
        try await produce(["nope"], topic: "other\(prefix)", cluster: cluster)

        let consumer = try makeConsumer(cluster, group: uniqueName("g"), extra: ["topic.metadata.refresh.interval.ms": "500"])
        try consumer.subscribe(pattern: "^\(prefix)\\..*")
        let messages = try await poll(consumer, count: 4)
        #expect(Set(messages.map(\.topic)) == ["\(prefix).trades", "\(prefix).quotes"])
        #expect(try await poll(consumer, count: 1, timeout: .seconds(2)).isEmpty)
        try consumer.close()
    }

    @Test("group callbacks: assign on join, revoke on close; pause holds records back")
    func rebalanceAndPause() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let topic = uniqueName("pausing")
        try cluster.createTopic(topic, partitions: 3)
        let consumer = try makeConsumer(cluster, group: uniqueName("g"))
        let delegate = RecordingDelegate()
        consumer.delegate = delegate
        try consumer.subscribe(topics: [topic])
        #expect(try await eventually(every: .milliseconds(1)) { _ = try consumer.poll(timeout: .milliseconds(10)); return delegate.assigned.count == 3 })
        #expect(try consumer.assignment().count == 3)

        try consumer.pause(try consumer.assignment())
        try await produce((0..<5).map { "p\($0)" }, topic: topic, cluster: cluster, partition: 1)
        #expect(try await poll(consumer, count: 1, timeout: .seconds(2)).isEmpty, "paused partitions deliver nothing")
        try consumer.resume(try consumer.assignment())
        #expect(try await poll(consumer, count: 5).count == 5)

        try consumer.close()
        #expect(Set(delegate.revoked) == Set(delegate.assigned))
        #expect(delegate.lost.isEmpty)
    }

    @Test("a burst poll takes what is fetched, up to its maximum, in each partition's order; a seek drops the rest",
          arguments: [1, 64])
    func burstPoll(maximum: Int) async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let topic = uniqueName("burst")
        try cluster.createTopic(topic, partitions: 2)
        try await produce((0..<300).map { "a\($0)" }, topic: topic, cluster: cluster, partition: 0)
        try await produce((0..<300).map { "b\($0)" }, topic: topic, cluster: cluster, partition: 1)
        let consumer = try makeConsumer(cluster, group: uniqueName("g"))
        try consumer.subscribe(topics: [topic])

        var burst: [KafkaMessage] = []
        var seen: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while seen.count < 250, ContinuousClock.now < deadline {
            try consumer.poll(into: &burst, maximum: maximum, timeout: .milliseconds(10))
            #expect(burst.count <= maximum)
            seen += burst
            await Task.yield()
        }
        #expect(seen.count >= 250)
        // Partition 0 is rewound to offset 10: what was fetched past the
        // seek is never returned; the records come again from there, in order.
        try consumer.seek([TopicPartitionOffset(TopicPartition(topic: topic, partition: 0), offset: 10)])
        var after: [KafkaMessage] = []
        func offsets(_ messages: [KafkaMessage], _ partition: Int32) -> [Int64] {
            messages.filter { $0.partition == partition }.map(\.offset)
        }
        while offsets(after, 0).last != 299 || Set(offsets(seen + after, 1)).count < 300, ContinuousClock.now < deadline {
            try consumer.poll(into: &burst, maximum: maximum, timeout: .milliseconds(10))
            after += burst
            await Task.yield()
        }
        let before0 = offsets(seen, 0)
        #expect(before0 == Array(0..<Int64(before0.count)))
        #expect(offsets(after, 0) == Array(10..<300))
        #expect(offsets(seen + after, 1) == Array(0..<300))

        // Idle: it waits for the first record only, not for a full burst.
        try await produce(["late"], topic: topic, cluster: cluster, partition: 1)
        let started = ContinuousClock.now
        repeat {
            try consumer.poll(into: &burst, maximum: maximum, timeout: .seconds(20))
        } while burst.isEmpty && ContinuousClock.now < deadline
        #expect(burst.map(\.value) == [Array("late".utf8)], "\(burst.map { "\($0.partition)/\($0.offset)" })")
        #expect(ContinuousClock.now - started < .seconds(10))
        try consumer.close()
    }

    @Test("cooperative-sticky assigns incrementally and closes cleanly")
    func cooperative() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let topic = uniqueName("coop")
        try cluster.createTopic(topic, partitions: 4)
        try await produce((0..<8).map { "c\($0)" }, topic: topic, cluster: cluster)
        let consumer = try makeConsumer(
            cluster, group: uniqueName("g"), extra: ["partition.assignment.strategy": "cooperative-sticky"])
        #expect(consumer.rebalanceProtocol == .cooperative)
        let delegate = RecordingDelegate()
        consumer.delegate = delegate
        try consumer.subscribe(topics: [topic])
        #expect(try await poll(consumer, count: 8).count == 8)
        #expect(delegate.assigned.count == 4)
        try consumer.close()
        #expect(delegate.revoked.count == 4)
    }

    @Test("closing a cooperative member before its first assignment does not abort (librdkafka #4312)")
    func cooperativeCloseBeforeAssignment() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let topic = uniqueName("early")
        try cluster.createTopic(topic, partitions: 2)
        let consumer = try makeConsumer(
            cluster, group: uniqueName("g"), extra: ["partition.assignment.strategy": "cooperative-sticky"])
        // Joined but never synced: the window in which librdkafka 2.0.2
        // asserts on destroy. SyncGroup keeps failing (REBALANCE_IN_PROGRESS).
        cluster.failNextRequests(apiKey: KafkaAPIKey.syncGroup, with: Array(repeating: KafkaError.Code(rawValue: 27), count: 200))
        try consumer.subscribe(topics: [topic])
        let joined = ContinuousClock.now + .seconds(5)  // the mock answers the first JoinGroup after ~3 s
        while ContinuousClock.now < joined {
            _ = try consumer.poll(timeout: .milliseconds(10))
            await Task.yield()
        }
        #expect(try consumer.assignment().isEmpty)
        try consumer.close()
        // Reaching the end is the assertion: destroying the handle in this
        // state aborts the process on librdkafka < 2.3.
    }

    @Test("watermarks and partitions from the admin client; topic creation errors are reported")
    func admin() async throws {
        let cluster = try EmbeddedCluster(brokers: 3, logger: testLogger())
        let topic = uniqueName("admin")
        try cluster.createTopic(topic, partitions: 6, replicationFactor: 3)
        try await produce((0..<3).map { "a\($0)" }, topic: topic, cluster: cluster, partition: 5)
        let admin = try KafkaAdmin(config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers]), logger: testLogger())
        #expect(try admin.partitions(of: topic) == Array(0..<6))
        let marks = try admin.watermarks(TopicPartition(topic: topic, partition: 5))
        #expect(marks.low == 0 && marks.high == 3)
        // The mock cluster does not implement CreateTopics: an error, not a crash.
        #expect(throws: KafkaError.self) { try admin.createTopic(uniqueName("new"), partitions: 1, timeout: .seconds(2)) }
        #expect(throws: KafkaError.self) { try cluster.createTopic(topic, partitions: 1) }
    }
}

@Suite("Data path priority")
struct DataPathPriorityTests {
    /// Nice values of this process's threads whose name starts with `prefix`.
    private func niceValues(prefix: String) throws -> [Int] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { task in
            // Other suites' threads come and go meanwhile: a vanished one is skipped.
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8), comm.hasPrefix(prefix),
                let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                let nameEnd = stat.range(of: ")", options: .backwards)
            else { return nil }
            // Field 19 of stat is the nice value; the name (field 2) may hold spaces.
            let fields = stat[nameEnd.upperBound...].split(separator: " ")
            return fields.count > 16 ? Int(fields[16]) : nil
        }
    }

    @Test("librdkafka's threads of clients made while it is set, and threads that apply it, run at the data path's nice value")
    func renicesThreads() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        DataPathPriority.nice = 7
        let consumer: KafkaConsumer
        do {
            defer { DataPathPriority.nice = 0 }
            consumer = try makeConsumer(cluster, group: uniqueName("g"))
        }
        // librdkafka's main and broker threads start with the client, but
        // run (and renice themselves) when the scheduler gets to them: after
        // the value was reset, which they must not see.
        #expect(try await eventually { try niceValues(prefix: "rdk:").filter { $0 == 7 }.count >= 2 })
        #expect(DataPathPriority.nice == 0)

        DataPathPriority.nice = 5
        defer { DataPathPriority.nice = 0 }
        let seen = Mutex<Int32?>(nil)
        let thread = Thread {
            DataPathPriority.applyToCurrentThread()
            errno = 0
            seen.withLock { $0 = Int32(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)) }
        }
        thread.start()
        #expect(await eventually { seen.withLock { $0 } == 5 })
        try consumer.close()
    }
}
