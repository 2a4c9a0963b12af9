import DataModel

/// Exponential backoff for operations that may succeed later: transient
/// sink, dead-letter and Schema Registry errors, consumer restarts.
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

    /// ``backoff(afterFailures:)`` with "equal jitter": a random point in its
    /// upper half, so that consumers failing together do not retry together.
    public func jitteredBackoff(afterFailures failures: Int) -> Duration {
        let delay = backoff(afterFailures: failures)
        return delay / 2 + delay / 2 * Double.random(in: 0...1)
    }
}

/// `"retry"` in a spec: how transient errors (sink, dead-letter topic,
/// Schema Registry) are retried. Nothing is committed past a record that
/// waits; the consumer stays running with health degraded.
public struct RetrySpec: Sendable, Equatable {
    public var initialBackoffMilliseconds: Int
    public var maxBackoffMilliseconds: Int
    /// Attempts before `onExhausted` decides; 0 means no limit.
    public var maxAttempts: Int
    public var onExhausted: Exhausted

    public enum Exhausted: String, Sendable, Codable, CaseIterable {
        /// Go on retrying at the longest backoff; health turns unhealthy.
        case keepRetrying = "keep_retrying"
        /// Fail the consumer (the restart policy takes over).
        case fail
    }

    public init(initialBackoffMilliseconds: Int = 200, maxBackoffMilliseconds: Int = 30_000, maxAttempts: Int = 0, onExhausted: Exhausted = .keepRetrying) {
        self.initialBackoffMilliseconds = initialBackoffMilliseconds
        self.maxBackoffMilliseconds = maxBackoffMilliseconds
        self.maxAttempts = maxAttempts
        self.onExhausted = onExhausted
    }

    public var policy: RetryPolicy {
        RetryPolicy(
            maxAttempts: maxAttempts, initialBackoff: .milliseconds(initialBackoffMilliseconds),
            maxBackoff: .milliseconds(maxBackoffMilliseconds))
    }

    public func validate() throws(SpecError) {
        guard (10...600_000).contains(initialBackoffMilliseconds) else { throw SpecError("initial_backoff_ms", "must be between 10 and 600000") }
        guard (initialBackoffMilliseconds...3_600_000).contains(maxBackoffMilliseconds) else {
            throw SpecError("max_backoff_ms", "must be between initial_backoff_ms and 3600000")
        }
        guard (0...1_000_000).contains(maxAttempts) else { throw SpecError("max_attempts", "must be between 0 (no limit) and 1000000") }
    }
}

extension RetrySpec: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case initialBackoffMilliseconds = "initial_backoff_ms"
        case maxBackoffMilliseconds = "max_backoff_ms"
        case maxAttempts = "max_attempts"
        case onExhausted = "on_exhausted"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Self()
        self.init(
            initialBackoffMilliseconds: try container.decodeUnlessAbsent(Int.self, forKey: .initialBackoffMilliseconds)
                ?? defaults.initialBackoffMilliseconds,
            maxBackoffMilliseconds: try container.decodeUnlessAbsent(Int.self, forKey: .maxBackoffMilliseconds) ?? defaults.maxBackoffMilliseconds,
            maxAttempts: try container.decodeUnlessAbsent(Int.self, forKey: .maxAttempts) ?? defaults.maxAttempts,
            onExhausted: try container.decodeEnumIfPresent(Exhausted.self, forKey: .onExhausted) ?? defaults.onExhausted)
    }
}
