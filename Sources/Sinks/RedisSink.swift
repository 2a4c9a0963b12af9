import DataModel
import Kafka
import Logging
import Pipeline

/// `{"type": "redis", "url": "redis://host:6379/0", "mode": "stream"}`:
/// records into Redis, exactly once.
///
/// Each batch is one MULTI/EXEC that also sets the partitions' next offsets
/// in the hash `consumerd:offsets:<group>` (field `topic:partition`). The
/// offsets are read under WATCH first and only records past them are
/// written, so a retry after a lost reply, or another member, never writes
/// a record twice; on assignment the consumer resumes from them.
///
/// `mode: "stream"`: XADD per record to `stream` (default
/// `consumerd:<consumer>`) or to the stream named by `stream_field`, with
/// fields `topic`, `partition`, `offset`, `timestamp`, `key`, `value` (JSON);
/// `max_len` trims approximately. `mode: "aggregate"` (seed 003's real-time
/// aggregation): per `key_field` value and `window_s` window of the record
/// timestamp, a hash `<prefix>:<key>:<window start, epoch seconds>` with
/// `count` and, for `value_field`, `sum`, `min` and `max`, expiring after `ttl_s`.
public struct RedisSinkSpec: SinkSpec {
    public static let type = "redis"

    public enum Mode: String, Sendable, Codable, CaseIterable {
        case stream, aggregate
    }

    public var url: String
    public var mode: Mode
    public var stream: String?
    public var streamField: String?
    public var maxLength: Int?
    public var keyField: String?
    public var valueField: String?
    public var windowSeconds: Int
    public var ttlSeconds: Int
    public var prefix: String?

    public init(
        url: String, mode: Mode = .stream, stream: String? = nil, streamField: String? = nil, maxLength: Int? = nil,
        keyField: String? = nil, valueField: String? = nil, windowSeconds: Int = 60, ttlSeconds: Int = 86_400, prefix: String? = nil
    ) {
        self.url = url
        self.mode = mode
        self.stream = stream
        self.streamField = streamField
        self.maxLength = maxLength
        self.keyField = keyField
        self.valueField = valueField
        self.windowSeconds = windowSeconds
        self.ttlSeconds = ttlSeconds
        self.prefix = prefix
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, url, mode, stream, prefix
        case streamField = "stream_field"
        case maxLength = "max_len"
        case keyField = "key_field"
        case valueField = "value_field"
        case windowSeconds = "window_s"
        case ttlSeconds = "ttl_s"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            url: try container.decode(String.self, forKey: .url),
            mode: try container.decodeEnumIfPresent(Mode.self, forKey: .mode) ?? .stream,
            stream: try container.decodeUnlessAbsent(String.self, forKey: .stream),
            streamField: try container.decodeUnlessAbsent(String.self, forKey: .streamField),
            maxLength: try container.decodeUnlessAbsent(Int.self, forKey: .maxLength),
            keyField: try container.decodeUnlessAbsent(String.self, forKey: .keyField),
            valueField: try container.decodeUnlessAbsent(String.self, forKey: .valueField),
            windowSeconds: try container.decodeUnlessAbsent(Int.self, forKey: .windowSeconds) ?? 60,
            ttlSeconds: try container.decodeUnlessAbsent(Int.self, forKey: .ttlSeconds) ?? 86_400,
            prefix: try container.decodeUnlessAbsent(String.self, forKey: .prefix))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
        try container.encode(url, forKey: .url)
        try container.encode(mode, forKey: .mode)
        try container.encodeIfPresent(stream, forKey: .stream)
        try container.encodeIfPresent(streamField, forKey: .streamField)
        try container.encodeIfPresent(maxLength, forKey: .maxLength)
        try container.encodeIfPresent(keyField, forKey: .keyField)
        try container.encodeIfPresent(valueField, forKey: .valueField)
        if mode == .aggregate {
            try container.encode(windowSeconds, forKey: .windowSeconds)
            try container.encode(ttlSeconds, forKey: .ttlSeconds)
        }
        try container.encodeIfPresent(prefix, forKey: .prefix)
    }

    public func validate() throws(SpecError) {
        guard url.utf8.count <= 2048, RedisConnection.Address(url) != nil else {
            throw SpecError("url", "must be redis://[:password@]host[:port][/db] or unix:///path/to/socket")
        }
        for (name, value) in [("stream", stream), ("prefix", prefix)] {
            if let value, value.isEmpty || value.utf8.count > 512 { throw SpecError(name, "must be 1-512 bytes") }
        }
        switch mode {
        case .stream:
            if stream != nil, streamField != nil { throw SpecError("stream_field", "give either stream or stream_field, not both") }
            if let streamField { _ = try parseFieldPath(streamField, field: "stream_field") }
            if let maxLength, maxLength < 1 { throw SpecError("max_len", "must be at least 1") }
            for (name, value) in [("key_field", keyField), ("value_field", valueField)] where value != nil {
                throw SpecError(name, "only applies with mode: aggregate")
            }
        case .aggregate:
            guard let keyField else { throw SpecError("key_field", "is required with mode: aggregate") }
            _ = try parseFieldPath(keyField, field: "key_field")
            if let valueField { _ = try parseFieldPath(valueField, field: "value_field") }
            guard (1...86_400).contains(windowSeconds) else { throw SpecError("window_s", "must be between 1 and 86400") }
            guard (1...31_536_000).contains(ttlSeconds) else { throw SpecError("ttl_s", "must be between 1 and 31536000") }
            for (name, value) in [("stream", stream), ("stream_field", streamField)] where value != nil {
                throw SpecError(name, "only applies with mode: stream")
            }
            if maxLength != nil { throw SpecError("max_len", "only applies with mode: stream") }
        }
    }

    public var commits: SinkCommits { .sinkStoresOffsets }
    public var readsRecordFields: Bool { streamField != nil || keyField != nil || valueField != nil }
    public func target(in context: SinkContext) -> String { maskingPassword(in: url) }
    public func redacted() -> RedisSinkSpec { with(url: maskingPassword(in: url)) }
    public func restoringSecrets(from previous: RedisSinkSpec) -> RedisSinkSpec { with(url: restoringPassword(in: url, from: previous.url)) }
    public var holdsMaskedSecret: Bool { url.contains(":\(maskedSecret)@") }

    private func with(url: String) -> RedisSinkSpec {
        var copy = self
        copy.url = url
        return copy
    }

    public func makeSink(in context: SinkContext) throws(PipelineError) -> any Sink {
        RedisSink(spec: self, context: context)
    }
}

/// Writes batches to Redis in MULTI/EXEC transactions that carry their offsets.
public final class RedisSink: Sink {
    public let kind = RedisSinkSpec.type
    public let target: String
    public let commits = SinkCommits.sinkStoresOffsets
    private let spec: RedisSinkSpec
    private let address: RedisConnection.Address
    private let offsetsKey: String
    private let defaultStream: String
    private let prefix: String
    private let streamPath: FieldPath?
    private let keyPath: FieldPath?
    private let valuePath: FieldPath?
    private var connection: RedisConnection?

    /// Sets a hash field to ARGV[2] if it is unset or ARGV[2] is below it (min) or above it (max).
    static let minScript = "local c = redis.call('HGET', KEYS[1], ARGV[1]); if not c or tonumber(ARGV[2]) < tonumber(c) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end; return 0"
    static let maxScript = "local c = redis.call('HGET', KEYS[1], ARGV[1]); if not c or tonumber(ARGV[2]) > tonumber(c) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end; return 0"

    init(spec: RedisSinkSpec, context: SinkContext) {
        self.spec = spec
        self.target = spec.target(in: context)
        self.address = RedisConnection.Address(spec.url)!
        self.offsetsKey = "consumerd:offsets:\(context.groupID)"
        self.defaultStream = spec.stream ?? "consumerd:\(context.consumer)"
        self.prefix = spec.prefix ?? "consumerd:agg:\(context.consumer)"
        streamPath = spec.streamField.flatMap(FieldPath.init)
        keyPath = spec.keyField.flatMap(FieldPath.init)
        valuePath = spec.valueField.flatMap(FieldPath.init)
    }

    deinit { close() }

    public func close() {
        connection?.close()
        connection = nil
    }

    private func connect() throws(PipelineError) -> RedisConnection {
        if let connection, connection.isOpen { return connection }
        do {
            let created = try RedisConnection(address)
            connection = created
            return created
        } catch {
            throw failure(error)
        }
    }

    private func failure(_ error: RedisConnection.Failure) -> PipelineError {
        if error.connectionLost { close() }
        return PipelineError(stage: .sink, message: "redis sink \(target): \(error)", isRetriable: true, reason: "redis_unavailable")
    }

    private static func field(_ partition: TopicPartition) -> String { "\(partition.topic):\(partition.partition)" }

    public func storedOffsets(for partitions: [TopicPartition]) throws(PipelineError) -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        let redis = try connect()
        do {
            return try read(redis, partitions)
        } catch {
            throw failure(error)
        }
    }

    private func read(_ redis: RedisConnection, _ partitions: [TopicPartition]) throws(RedisConnection.Failure) -> [TopicPartition: Int64] {
        let reply = try redis.command(["HMGET", offsetsKey] + partitions.map(Self.field))
        guard case .array(let values) = reply, values.count == partitions.count else {
            throw RedisConnection.Failure(message: "HMGET \(offsetsKey): unexpected reply \(reply)", connectionLost: false)
        }
        var stored: [TopicPartition: Int64] = [:]
        for (partition, value) in zip(partitions, values) {
            if let next = value.text.flatMap(Int64.init) { stored[partition] = next }
        }
        return stored
    }

    public func write(_ batch: SinkBatch) throws(PipelineError) -> SinkWriteResult {
        let redis = try connect()
        do throws(RedisConnection.Failure) {
            // WATCH, then read: if another writer changes the offsets before
            // EXEC, the transaction is dropped and the batch retried.
            _ = try redis.command(["WATCH", offsetsKey])
            let stored = try read(redis, batch.offsets.map(\.topicPartition))
            let fresh = batch.records.filter { $0.message.offset >= (stored[$0.message.topicPartition] ?? Int64.min) }
            var commands: [[[UInt8]]] = [["MULTI"].map { Array($0.utf8) }]
            switch spec.mode {
            case .stream: commands += streamCommands(fresh)
            case .aggregate: commands += aggregateCommands(fresh)
            }
            var offsets: [String] = []
            for entry in batch.offsets {
                guard let next = entry.offset, next > (stored[entry.topicPartition] ?? Int64.min) else { continue }
                offsets += [Self.field(entry.topicPartition), String(next)]
            }
            if !offsets.isEmpty { commands.append((["HSET", offsetsKey] + offsets).map { Array($0.utf8) }) }
            commands.append([Array("EXEC".utf8)])
            let replies = try redis.pipeline(commands)
            guard let exec = replies.last else { throw RedisConnection.Failure(message: "no reply to EXEC", connectionLost: true) }
            switch exec {
            case .array(let results):
                if let error = results.first(where: { if case .error = $0 { true } else { false } }) {
                    throw RedisConnection.Failure(message: "a command in the transaction failed: \(error)", connectionLost: false)
                }
                return .written
            case .null:
                throw RedisConnection.Failure(message: "the offsets changed during the batch (another writer); retrying", connectionLost: false)
            case .error(let message):
                // EXECABORT: a command was refused when queued (wrong type, out of memory).
                let queued = replies.dropLast().compactMap { if case .error(let text) = $0 { text } else { nil } }
                throw RedisConnection.Failure(message: "\(message) \(queued.first ?? "")", connectionLost: false)
            default:
                throw RedisConnection.Failure(message: "unexpected reply to EXEC: \(exec)", connectionLost: false)
            }
        } catch {
            throw failure(error)
        }
    }

    private func streamCommands(_ records: [Record]) -> [[[UInt8]]] {
        records.map { record in
            let message = record.message
            let stream = streamPath.flatMap { record.text(at: $0) } ?? defaultStream
            var command: [[UInt8]] = [Array("XADD".utf8), Array(stream.utf8)]
            if let maxLength = spec.maxLength { command += [Array("MAXLEN".utf8), Array("~".utf8), Array(String(maxLength).utf8)] }
            command += [
                "*", "topic", message.topic, "partition", String(message.partition), "offset", String(message.offset),
                "timestamp", message.timestamp.map(String.init) ?? "",
            ].map { Array($0.utf8) }
            command += [Array("key".utf8), message.key ?? [], Array("value".utf8), record.json]
            return command
        }
    }

    /// One set of commands per key and window: the batch is aggregated first.
    private func aggregateCommands(_ records: [Record]) -> [[[UInt8]]] {
        struct Aggregate {
            var count: Int64 = 0
            var sum = 0.0
            var minimum: Double?
            var maximum: Double?
            var values = 0
        }
        var groups: [String: Aggregate] = [:]
        var order: [String] = []
        let window = Int64(spec.windowSeconds)
        for record in records {
            let key = keyPath.flatMap { record.text(at: $0) } ?? "null"
            let seconds = (record.message.timestamp ?? 0) / 1000
            let start = seconds - ((seconds % window) + window) % window
            let name = "\(prefix):\(key):\(start)"
            if groups[name] == nil { order.append(name) }
            var aggregate = groups[name] ?? Aggregate()
            aggregate.count += 1
            if let valuePath, let number = record.tree?[valuePath]?.numberValue {
                aggregate.sum += number
                aggregate.minimum = min(aggregate.minimum ?? number, number)
                aggregate.maximum = max(aggregate.maximum ?? number, number)
                aggregate.values += 1
            }
            groups[name] = aggregate
        }
        var commands: [[String]] = []
        for name in order {
            let aggregate = groups[name]!
            commands.append(["HINCRBY", name, "count", String(aggregate.count)])
            if aggregate.values > 0, let minimum = aggregate.minimum, let maximum = aggregate.maximum {
                commands.append(["HINCRBYFLOAT", name, "sum", String(aggregate.sum)])
                commands.append(["EVAL", Self.minScript, "1", name, "min", String(minimum)])
                commands.append(["EVAL", Self.maxScript, "1", name, "max", String(maximum)])
            }
            commands.append(["EXPIRE", name, String(spec.ttlSeconds)])
        }
        return commands.map { $0.map { Array($0.utf8) } }
    }
}
