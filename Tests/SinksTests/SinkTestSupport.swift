import DataModel
import Kafka
import Logging
import Pipeline
import Sinks
import TestSupport

/// Records `{"id": i, "name": "n<i>", "price": i * 1.5}` at offset i of one
/// partition, and the batch that completes them.
func batch(_ ids: Range<Int>, topic: String = "t", partition: Int32 = 0, value: (Int) -> String = standardValue) throws -> SinkBatch {
    let records = try ids.map { i in
        try JSONRecordDecoder().decode(KafkaMessage(
            topic: topic, partition: partition, offset: Int64(i), timestamp: 1_700_000_000_000 + Int64(i) * 1000,
            key: Array("k\(i)".utf8), value: Array(value(i).utf8)))
    }
    return SinkBatch(records: records, offsets: [TopicPartitionOffset(TopicPartition(topic: topic, partition: partition), offset: Int64(ids.upperBound))])
}

func standardValue(_ i: Int) -> String { #"{"id":\#(i),"name":"n\#(i)","price":\#(Double(i) * 1.5)}"# }

func sinkContext(_ consumer: String = "c", recordSchema: Value? = nil) -> SinkContext {
    SinkContext(
        consumer: consumer, groupID: "g-\(consumer)", instance: "test", sinkDirectory: "/nonexistent",
        records: RecordSchemas(validation: recordSchema), logger: testLogger())
}

/// Writes through a sink on a thread of its own: sink calls block on
/// sockets, and the cooperative pool (two threads here) must stay free.
func write(_ sink: any Sink, _ batch: SinkBatch) async throws -> SinkWriteResult {
    let box = UncheckedBox(sink)
    return try await offPool { try box.value.write(batch) }
}

/// Hands a value that is used by one thread at a time to another thread.
final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
