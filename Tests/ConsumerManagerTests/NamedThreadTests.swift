@testable import ConsumerManager
import Foundation
import Testing

/// Operators tell consumers apart in `top -H`, `ps -L` and perf by their
/// threads' names, which the kernel keeps in /proc.
@Suite("Named threads")
struct NamedThreadTests {
    /// The names the kernel holds for this process's threads. Other tests'
    /// threads come and go meanwhile: one that ended between the listing and
    /// the read is left out.
    static func threadNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .newlines)
        }
    }

    /// Runs `check` while a thread started under `name` is alive.
    static func whileRunning(named name: String, _ check: () throws -> Void) throws {
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        Thread.start(named: name) {
            started.signal()
            release.wait()
        }
        started.wait()
        defer { release.signal() }
        try check()
    }

    @Test("a started thread carries its name")
    func named() throws {
        try Self.whileRunning(named: "cd-named-test") {
            let names = try Self.threadNames()
            #expect(names.contains("cd-named-test"), "threads: \(names)")
        }
    }

    @Test("a long name keeps its first 15 bytes, as Linux allows")
    func truncated() throws {
        try Self.whileRunning(named: "cd-write-a-consumer-with-a-long-name") {
            let names = try Self.threadNames()
            #expect(names.contains("cd-write-a-cons"), "threads: \(names)")
        }
    }
}
