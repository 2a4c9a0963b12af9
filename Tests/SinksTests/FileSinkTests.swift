import Foundation
import Kafka
import Pipeline
import Sinks
import Testing
import TestSupport

@Suite("File and stdout sinks")
struct FileSinkTests {
    private func records(_ range: Range<Int>, topic: String = "t") throws -> [Record] {
        try range.map { i in
            try JSONRecordDecoder().decode(
                KafkaMessage(topic: topic, partition: 0, offset: Int64(i), key: Array("k\(i)".utf8), value: Array(#"{"i":\#(i)}"#.utf8)))
        }
    }

    private func lines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test("a file sink appends batches as JSON Lines, creating directories")
    func appends() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/nested/dir/out.jsonl"
        let sink = try FileSink(directory: directory.path, path: "nested/dir/out.jsonl")
        try sink.write(try records(0..<3))
        try sink.write(try records(3..<5))
        sink.close()
        #expect(try lines(path).map { $0["offset"] as? Int } == [0, 1, 2, 3, 4])
        // Reopening appends after what is there.
        let again = try FileSink(directory: directory.path, path: "nested/dir/out.jsonl")
        #expect(again.repairedBytes == 0)
        try again.write(try records(5..<6))
        #expect(try lines(path).count == 6)
    }

    @Test("a torn last line from a crash is trimmed on open")
    func trimsTornLine() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/out.jsonl"
        try FileSink(directory: directory.path, path: "out.jsonl").write(try records(0..<2))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"topic":"t","partition":0,"off"#.utf8))
        try handle.close()

        let sink = try FileSink(directory: directory.path, path: "out.jsonl")
        #expect(sink.repairedBytes == 31)
        try sink.write(try records(2..<3))
        #expect(try lines(path).map { $0["offset"] as? Int } == [0, 1, 2])
    }

    @Test("a rotated or deleted file is reopened at its path and the batch written there")
    func rotation() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/out.jsonl"
        let sink = try FileSink(directory: directory.path, path: "out.jsonl")
        try sink.write(try records(0..<2))
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try sink.write(try records(2..<4))
        #expect(try lines(path + ".1").map { $0["offset"] as? Int } == [0, 1], "the rotated file keeps what it had")
        #expect(try lines(path).map { $0["offset"] as? Int } == [2, 3], "new batches land at the path")
        try FileManager.default.removeItem(atPath: path)
        try sink.write(try records(4..<5))
        #expect(try lines(path).map { $0["offset"] as? Int } == [4], "a deleted file is created again")
        #expect(sink.reopens == 2)
    }

    @Test("a write that runs out of space is cut back to the last whole batch, and goes through once there is room",
          .enabled(if: TmpfsMount.isAvailable, "needs root to mount a tmpfs"))
    func diskFull() throws {
        let disk = try TmpfsMount(size: 64 << 10)
        defer { disk.unmount() }
        let path = "\(disk.path)/out.jsonl"
        let sink = try FileSink(directory: disk.path, path: "out.jsonl")
        try sink.write(try records(0..<10))
        let big = try records(10..<2000)
        #expect(throws: PipelineError.self) { try sink.write(big) }
        #expect(try lines(path).map { $0["offset"] as? Int } == Array(0..<10), "no part of the failed batch stays")
        try disk.resize(8 << 20)
        try sink.write(big)
        #expect(try lines(path).count == 2000)
    }

    @Test("no symbolic link leads out of the sink directory: not the file, not a directory on the way")
    func refusesSymlinks() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outside = try TemporaryDirectory()
        defer { outside.remove() }
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: "\(directory.path)/link.jsonl", withDestinationPath: "\(outside.path)/x.jsonl")
        try fm.createSymbolicLink(atPath: "\(directory.path)/linkdir", withDestinationPath: outside.path)
        try fm.createDirectory(atPath: "\(directory.path)/real", withIntermediateDirectories: false)
        try fm.createSymbolicLink(atPath: "\(directory.path)/real/up", withDestinationPath: "../..")
        for path in ["link.jsonl", "linkdir/x.jsonl", "real/up/x.jsonl", "linkdir/deeper/x.jsonl"] {
            let error = #expect(throws: PipelineError.self, "\(path)") { try FileSink(directory: directory.path, path: path) }
            #expect(error?.isRetriable == false && error?.message.contains("symbolic link") == true, "\(path): \(String(describing: error))")
        }
        #expect(try fm.contentsOfDirectory(atPath: outside.path).isEmpty, "nothing was created outside")
        // A plain subdirectory is fine.
        try FileSink(directory: directory.path, path: "real/ok.jsonl").write(try records(0..<1))
        #expect(try lines("\(directory.path)/real/ok.jsonl").count == 1)
    }

    @Test("write failures are retriable sink errors")
    func writeFailure() throws {
        let sink = try FileSink(directory: "/dev", path: "full")
        #expect {
            try sink.write(try records(0..<1))
        } throws: { error in
            let error = error as? PipelineError
            return error?.stage == .sink && error?.isRetriable == true && error?.message.contains("No space left") == true
        }
    }

    @Test("retry backoff doubles up to its cap")
    func backoff() {
        let policy = RetryPolicy(maxAttempts: 4, initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(350))
        #expect((1...5).map { policy.backoff(afterFailures: $0) } == [
            .milliseconds(100), .milliseconds(200), .milliseconds(350), .milliseconds(350), .milliseconds(350),
        ])
        #expect(policy.allowsAttempt(after: 3) && !policy.allowsAttempt(after: 4))
        #expect(RetryPolicy(maxAttempts: 0, initialBackoff: .seconds(1), maxBackoff: .seconds(1)).allowsAttempt(after: 1_000))
    }
}
