import Foundation
import Kafka
import Synchronization
import Testing
import TestSupport

@Suite("KafkaProducer")
struct KafkaProducerTests {
    @Test("delivery reports carry offsets; headers and null values survive the round trip")
    func deliveryAndHeaders() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let topic = uniqueName("produced")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(
            config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers, "linger.ms": "5"]), logger: testLogger())
        let offsets = Mutex<[Int64]>([])
        for i in 0..<20 {
            try producer.send(
                topic: topic, key: Array("k\(i)".utf8), value: i == 19 ? nil : Array("v\(i)".utf8),
                headers: [KafkaHeader(name: "trace", value: Array("t\(i)".utf8)), KafkaHeader(name: "empty", value: nil)]
            ) { result in
                if case .success(let position) = result { offsets.withLock { $0.append(position.offset ?? -1) } }
            }
        }
        try producer.flush(timeout: .seconds(10))
        #expect(offsets.withLock { $0.sorted() } == Array(0..<20))
        #expect(producer.delivered == 20 && producer.failed == 0 && producer.outstanding == 0)

        let consumer = try makeConsumer(cluster, group: uniqueName("g"))
        consumer.readsHeaders = true
        try consumer.subscribe(topics: [topic])
        let messages = try await poll(consumer, count: 20)
        #expect(messages.count == 20)
        #expect(messages[3].headers == [KafkaHeader(name: "trace", value: Array("t3".utf8)), KafkaHeader(name: "empty", value: nil)])
        #expect(messages[19].value == nil, "a tombstone stays null")
        try consumer.close()
    }

    @Test("records for a missing partition fail at once")
    func unknownPartition() async throws {
        let cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        let topic = uniqueName("small")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers]), logger: testLogger())
        let failure = Mutex<KafkaError?>(nil)
        try producer.send(topic: topic, partition: 7, key: nil, value: [1]) { result in
            if case .failure(let error) = result { failure.withLock { $0 = error } }
        }
        try producer.flush(timeout: .seconds(10))
        #expect(failure.withLock { $0 }?.code == .unknownPartition)
    }
}
