import Foundation
import Testing
import Logging

/// A fresh directory under /tmp, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ prefix: String = "consumerd-test") throws {
        let path = "\(NSTemporaryDirectory())\(prefix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        self.path = path
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A quiet logger for tests; set CONSUMERD_TEST_LOG=debug to see everything.
public func testLogger(_ label: String = "test") -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["CONSUMERD_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    return logger
}

/// A unique topic or group name per test, so tests sharing a cluster never collide.
public func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}

/// Settings that make the mock cluster fast for tests: an empty fetch waits
/// `fetch.wait.max.ms`, so it is kept short.
public let fastConsumerProperties: [String: String] = [
    "fetch.wait.max.ms": "10",
    "session.timeout.ms": "6000",
    "heartbeat.interval.ms": "500",
]

/// Polls `condition` until it holds or `timeout` passes; returns whether it
/// held. Sleeps without holding a cooperative-pool thread.
public func eventually(
    timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(50), _ condition: () throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try condition()
}

/// Lines of a JSON Lines file, parsed by Foundation (an independent parser).
/// A complete line that does not parse is a test failure, never skipped; a
/// last line without its newline is still being written and is left out.
public func jsonLines(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    lines.removeLast()  // Empty after the final newline, or a line still being written.
    return lines.compactMap { line in
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            Issue.record("\(path): a line that is not a JSON object: \(line.prefix(200))", sourceLocation: sourceLocation)
            return nil
        }
        return object
    }
}

/// `eventually` for conditions that must themselves await.
public func eventuallyAsync(
    timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(50), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
