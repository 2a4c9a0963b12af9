import Foundation
import Kafka
import Logging
import Pipeline
import Sinks
import Testing
import TestSupport

/// The Kafka sink against the embedded cluster, read back with confluent-kafka.
@Suite("Kafka sink")
struct KafkaSinkTests {
    func context(_ cluster: EmbeddedCluster, consumer: String = "k") -> SinkContext {
        var context = sinkContext(consumer)
        context.kafka = KafkaConfig(["bootstrap.servers": cluster.bootstrapServers])
        return context
    }

    /// A consumer that has joined `group`: its membership is what a transaction commits with.
    func member(_ cluster: EmbeddedCluster, group: String, topic: String) async throws -> KafkaConsumer {
        let consumer = try KafkaConsumer(
            config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers, "group.id": group, "enable.auto.commit": "false"])
                .merging(fastConsumerProperties),
            logger: testLogger())
        try consumer.subscribe(topics: [topic])
        // The first join takes seconds: poll off the cooperative pool.
        let joining = UncheckedBox(consumer)
        let assigned = try await offPool {
            let deadline = ContinuousClock.now + .seconds(30)
            while (try joining.value.assignment()).isEmpty, ContinuousClock.now < deadline {
                _ = try joining.value.poll(timeout: .milliseconds(100))
            }
            return !(try joining.value.assignment()).isEmpty
        }
        #expect(assigned, "joined and assigned")
        return consumer
    }

    @Test("at least once: records with their keys and headers, or a key and a topic from fields")
    func atLeastOnce() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        try cluster.createTopic("out", partitions: 1)
        let sink = try KafkaSinkSpec(topic: "out").makeSink(in: context(cluster))
        var records = try batch(0..<5)
        records.records = records.records.map { record in
            var copy = record
            copy.message.headers = [KafkaHeader(name: "trace", value: Array("t\(record.message.offset)".utf8))]
            return copy
        }
        #expect(try await write(sink, records) == .written)
        let bootstrap = cluster.bootstrapServers
        let read = try await offPool { try PythonKafka.read(topic: "out", bootstrap: bootstrap) }
        #expect(read.map(\.key) == (0..<5).map { "k\($0)" })
        #expect(read.map(\.value) == (0..<5).map(standardValue))
        #expect(read.map { $0.headers["trace"] } == (0..<5).map { "t\($0)" })

        let routed = try KafkaSinkSpec(topicField: "name", keyField: "id").makeSink(in: context(cluster))
        #expect(try await write(routed, try batch(0..<2) { #"{"id":\#($0),"name":"routed"}"# }) == .written)
        #expect(try await offPool { try PythonKafka.read(topic: "routed", bootstrap: bootstrap) }.compactMap(\.key).sorted() == ["0", "1"])
        let unroutable = try await write(routed, try batch(0..<3) { $0 == 1 ? #"{"id":1,"name":"no such/topic"}"# : #"{"id":\#($0),"name":"routed"}"# })
        #expect(unroutable == .rejected([RejectedRecord(index: 1, reason: "no_topic", message: "field name does not name a valid topic")]))
    }

    /// librdkafka 2.0.2's mock accepts the transactional requests but does not
    /// act on them (no abort markers, TxnOffsetCommit stores nothing, a second
    /// InitProducerId does not fence the first): this proves the protocol
    /// flow, not the guarantee, which needs a real cluster.
    @Test("exactly once: the batch and the consumer's offsets go through one transaction")
    func transaction() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        try cluster.createTopic("in", partitions: 1)
        try cluster.createTopic("out", partitions: 1)
        let group = uniqueName("eos")
        let consumer = try await member(cluster, group: group, topic: "in")
        defer { try? consumer.close() }
        let sink = try KafkaSinkSpec(topic: "out", delivery: .exactlyOnce).makeSink(in: context(cluster))
        #expect(sink.commits == .transaction)
        var first = try batch(0..<10, topic: "in")
        first.group = consumer.groupMetadata()
        #expect(try await write(sink, first) == .written)
        var second = try batch(10..<15, topic: "in")
        second.group = consumer.groupMetadata()
        #expect(try await write(sink, second) == .written)
        let bootstrap = cluster.bootstrapServers
        #expect(try await offPool { try PythonKafka.read(topic: "out", bootstrap: bootstrap) }.count == 15)

        var orphan = try batch(15..<16, topic: "in")
        orphan.group = nil
        await #expect(throws: PipelineError.self, "no transaction without the group's membership") { try await write(sink, orphan) }
    }
}
