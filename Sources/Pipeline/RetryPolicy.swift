/// Exponential backoff for operations that may succeed later (sink writes,
/// consumer restarts).
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in total, the first included; 0 means no limit.
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration

    public init(maxAttempts: Int, initialBackoff: Duration, maxBackoff: Duration) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    /// Sink writes: 8 attempts over about 25 seconds, well inside max.poll.interval.ms.
    public static let sinkDefault = RetryPolicy(maxAttempts: 8, initialBackoff: .milliseconds(200), maxBackoff: .seconds(10))

    /// A record whose partition waits for a transient error to pass (an
    /// unreachable Schema Registry): retried until it works or the consumer stops.
    public static let recordDefault = RetryPolicy(maxAttempts: 0, initialBackoff: .milliseconds(500), maxBackoff: .seconds(30))

    /// Whether another attempt is allowed after `attempts` failed ones.
    public func allowsAttempt(after attempts: Int) -> Bool {
        maxAttempts == 0 || attempts < maxAttempts
    }

    /// The wait before the next attempt after `failures` consecutive failures
    /// (1 for the first): doubling from `initialBackoff`, capped at `maxBackoff`.
    public func backoff(afterFailures failures: Int) -> Duration {
        guard failures > 1 else { return min(initialBackoff, maxBackoff) }
        var delay = initialBackoff
        for _ in 1..<min(failures, 64) {
            delay *= 2
            if delay >= maxBackoff { return maxBackoff }
        }
        return delay
    }
}
