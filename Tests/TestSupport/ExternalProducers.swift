import Foundation

/// Produces records with kcat, a Kafka client nobody here wrote.
public enum Kcat {
    /// Sends `lines` to `topic`, one record each. With `keySeparator`, the
    /// text before it is the key. Waits for delivery (kcat exits after flushing).
    public static func produce(
        _ lines: [String], topic: String, bootstrap: String, partition: Int32? = nil, keySeparator: Character? = nil,
        headers: [(String, String)] = []
    ) throws {
        var arguments = ["-P", "-b", bootstrap, "-t", topic, "-X", "topic.request.required.acks=all"]
        if let partition { arguments += ["-p", String(partition)] }
        if let keySeparator { arguments += ["-K", String(keySeparator)] }
        for (name, value) in headers { arguments += ["-H", "\(name)=\(value)"] }
        try run("/usr/bin/kcat", arguments, input: lines.joined(separator: "\n") + "\n")
    }
}

/// Runs python3-confluent-kafka (Debian's package, under /usr/bin/python3).
public enum PythonKafka {
    /// One record read back by confluent-kafka (Tests/support/read_topic.py).
    public struct ReadRecord: Sendable {
        public var partition: Int
        public var offset: Int
        public var key: String?
        public var value: String?
        public var headers: [String: String]
    }

    /// Every record of `topic`, log start to end, read without a group.
    public static func read(topic: String, bootstrap: String) throws -> [ReadRecord] {
        let output = try TestPython.run(script: "Tests/support/read_topic.py", [bootstrap, topic])
        return try output.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let partition = object["partition"] as? Int, let offset = object["offset"] as? Int
            else { throw CommandFailed(command: "read_topic.py", status: 0, stderr: "unreadable line: \(line)") }
            return ReadRecord(
                partition: partition, offset: offset, key: object["key"] as? String, value: object["value"] as? String,
                headers: object["headers"] as? [String: String] ?? [:])
        }
    }

    /// Produces `values` to `topic` with keys `key-<i>`; prints nothing.
    public static func produce(_ values: [String], topic: String, bootstrap: String) throws {
        let script = """
            import json, sys
            from confluent_kafka import Producer
            values = json.load(sys.stdin)
            p = Producer({"bootstrap.servers": sys.argv[1], "acks": "all"})
            for i, v in enumerate(values):
                p.produce(sys.argv[2], key=f"key-{i}".encode(), value=v.encode())
                p.poll(0)
            left = p.flush(30)
            sys.exit(1 if left else 0)
            """
        let input = String(decoding: try JSONSerialization.data(withJSONObject: values), as: UTF8.self)
        try run("/usr/bin/python3", ["-c", script, bootstrap, topic], input: input)
    }

    /// The group's committed offset per partition of `topic`, as
    /// confluent-kafka reports it (-1001 when none).
    public static func committedOffsets(group: String, topic: String, partitions: Int, bootstrap: String) throws -> [Int64] {
        let script = """
            import sys
            from confluent_kafka import Consumer, TopicPartition
            c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "enable.auto.commit": False})
            tps = [TopicPartition(sys.argv[3], p) for p in range(int(sys.argv[4]))]
            print(" ".join(str(tp.offset) for tp in c.committed(tps, timeout=10)))
            c.close()
            """
        let output = try run("/usr/bin/python3", ["-c", script, bootstrap, group, topic, String(partitions)])
        return output.split(separator: " ").compactMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}

public struct CommandFailed: Error, CustomStringConvertible {
    public var command: String
    public var status: Int32
    public var stderr: String
    public var description: String { "\(command) exited \(status): \(stderr)" }
}

/// Runs blocking work (a child process, a file wait) on its own thread, so
/// async tests never tie up the cooperative pool that the code under test
/// needs (it has as many threads as cores: two here).
public func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try work() })
        }.start()
    }
}
