@testable import ConsumerManager
import Kafka
import Pipeline
import Sinks
import Testing

/// The batch goes to the writer thread and comes back: its records are
/// freed there once the sink has them all, and kept for the consumer
/// thread's dead letters or retry otherwise.
@Suite("Background writes")
struct BackgroundWriteTests {
    /// Three records of two partitions.
    static func batch() -> Batch {
        var batch = Batch()
        for (partition, offset) in [(0, 10), (1, 20), (0, 11)] as [(Int32, Int64)] {
            let message = KafkaMessage(topic: "t", partition: partition, offset: offset, value: Array("\(offset)".utf8))
            batch.add(Record(message: message, value: .json(message.value!, multiline: false)), at: .now)
        }
        return batch
    }

    static let offsets = [
        TopicPartitionOffset(TopicPartition(topic: "t", partition: 0), offset: 12),
        TopicPartitionOffset(TopicPartition(topic: "t", partition: 1), offset: 21),
    ]

    @Test("a batch the sink took whole comes back without its records, with what the commit needs")
    func written() {
        let writer = BackgroundWrite(name: "test")
        defer { writer.stop() }
        let seen = SeenCount()
        writer.start(Self.batch()) { batch in
            seen.count = batch.records.count
            return .success(.written)
        }
        let (result, batch) = writer.wait()
        #expect(result == .success(.written))
        #expect(seen.count == 3, "the write saw every record")
        #expect(batch.records.isEmpty)
        #expect(batch.written == 3 && batch.consumed == 3)
        #expect(batch.offsets == Self.offsets)
    }

    @Test("a batch the sink refused records of, or failed, comes back whole", arguments: [
        Result<SinkWriteResult, PipelineError>.success(.writtenExcept([RejectedRecord(index: 1, reason: "r", message: "m")])),
        .success(.rejected([RejectedRecord(index: 0, reason: "r", message: "m")])),
        .failure(PipelineError(stage: .sink, message: "down", isRetriable: true)),
    ])
    func kept(outcome: Result<SinkWriteResult, PipelineError>) {
        let writer = BackgroundWrite(name: "test")
        defer { writer.stop() }
        writer.start(Self.batch()) { _ in outcome }
        let (result, batch) = writer.wait()
        #expect(result == outcome)
        #expect(batch.records.map(\.message.offset) == [10, 20, 11])
        #expect(batch.written == 3 && batch.offsets == Self.offsets)
    }
}

/// Written on the writer thread, read after `wait()` on the test's.
private final class SeenCount: @unchecked Sendable {
    var count = 0
}
