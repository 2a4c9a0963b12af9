import ConsumerManager
import Foundation
import HTTPServer
import Synchronization

/// Runs handler work that blocks on the Kafka cluster (watermarks, group
/// offsets, ListOffsets) on threads of its own, never on the cooperative
/// pool that serves every other request. Bounded: at most `limit` calls at
/// once (more get 503), and a caller waits at most `timeout` (then 504; the
/// call still ends on its own Kafka timeout and its thread is released).
/// So a dead broker slows only the calls that need it.
final class BlockingCalls: Sendable {
    let limit: Int
    let timeout: Duration
    private let running = Atomic<Int>(0)

    init(limit: Int = 8, timeout: Duration = .seconds(12)) {
        self.limit = limit
        self.timeout = timeout
    }

    /// `timeout`: this call's own bound instead of the executor's.
    func run<T: Sendable>(
        timeout: Duration? = nil, _ work: @escaping @Sendable () throws(ConsumerManagerError) -> T
    ) async throws -> T {
        let timeout = timeout ?? self.timeout
        guard running.add(1, ordering: .relaxed).newValue <= limit else {
            running.subtract(1, ordering: .relaxed)
            throw HTTPError(
                status: 503, code: "busy", message: "\(limit) calls to the Kafka cluster are already under way; try again",
                headers: [.init("Retry-After", "1")])
        }
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            let once = Mutex<CheckedContinuation<Result<T, any Error>, Never>?>(continuation)
            let finish: @Sendable (Result<T, any Error>) -> Void = { result in
                once.withLock { $0.take() }?.resume(returning: result)
            }
            let timer = Task {
                try await Task.sleep(for: timeout)
                finish(.failure(HTTPError(
                    status: 504, code: "kafka_timeout", message: "the Kafka cluster did not answer within \(timeout)")))
            }
            Thread.start(named: "cd-blocking-call") { [self] in
                defer { self.running.subtract(1, ordering: .relaxed) }
                do throws(ConsumerManagerError) {
                    finish(.success(try work()))
                } catch {
                    finish(.failure(error))
                }
                timer.cancel()
            }
        }
        return try result.get()
    }
}
