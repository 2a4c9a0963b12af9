@testable import ConsumerManager
import Foundation
import Synchronization
import Testing

/// Operators tell consumers apart in `top -H`, `ps -L` and perf by their
/// threads' names, which the kernel keeps in /proc.
@Suite("Named threads")
struct NamedThreadTests {
    /// The names the kernel holds for this process's threads.
    static func threadNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").map { task in
            try String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
                .trimmingCharacters(in: .newlines)
        }
    }

    /// Runs `check` while a thread started under `name` is alive.
    static func whileRunning(named name: String, _ check: () throws -> Void) throws {
        let release = NSCondition()
        let state = Mutex((started: false, released: false))
        Thread.start(named: name) {
            release.lock()
            state.withLock { $0.started = true }
            release.broadcast()
            while !state.withLock({ $0.released }) { release.wait() }
            release.unlock()
        }
        release.lock()
        while !state.withLock({ $0.started }) { release.wait() }
        release.unlock()
        defer {
            release.lock()
            state.withLock { $0.released = true }
            release.broadcast()
            release.unlock()
        }
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
