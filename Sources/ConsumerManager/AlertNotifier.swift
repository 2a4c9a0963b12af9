import Foundation
import HTTPClient
import Logging
import Prometheus
import Synchronization

/// Posts a JSON event to webhooks whenever a consumer's state or health
/// changes (seed 002's health callbacks, for operators' alerting).
///
/// The supervisor hands it every consumer's status each tick; changes become
/// events on a bounded queue, delivered in order by a thread of its own with
/// retries, so a slow or dead webhook never holds up the supervisor. When the
/// queue is full the oldest event is dropped and counted.
public final class AlertNotifier: Sendable {
    /// What a webhook receives (`Content-Type: application/json`).
    public struct Event: Sendable, Equatable, Encodable {
        /// `consumer.changed`, or `consumer.deleted` when it is gone.
        public var event: String
        public var consumer: String
        public var groupID: String
        public var state: String
        public var previousState: String?
        public var health: String
        public var previousHealth: String?
        /// Why the consumer is not healthy.
        public var reason: String?
        /// The seeds' callback field: false when degraded or unhealthy.
        public var isHealthy: Bool
        public var lastError: String?
        public var at: String
        /// The host that sent it, for alerts from many instances.
        public var source: String

        enum CodingKeys: String, CodingKey {
            case event, consumer, state, health, reason, at, source
            case groupID = "group_id"
            case previousState = "previous_state"
            case previousHealth = "previous_health"
            case isHealthy = "is_healthy"
            case lastError = "last_error"
        }
    }

    /// One consumer as the supervisor saw it, with where its alerts go.
    struct Observation: Equatable {
        var consumer: String
        var groupID: String
        var state: ConsumerState
        var health: ConsumerHealth
        /// The last error while it is not resolved.
        var lastError: String?
        /// The consumer's own webhook (`alerts.webhook`), unmasked.
        var webhook: String?

        init(consumer: String, groupID: String, state: ConsumerState, health: ConsumerHealth, lastError: String? = nil, webhook: String? = nil) {
            self.consumer = consumer
            self.groupID = groupID
            self.state = state
            self.health = health
            self.lastError = lastError
            self.webhook = webhook
        }

        init(_ status: ConsumerStatus, webhook: String?) {
            self.init(
                consumer: status.name, groupID: status.spec.groupID, state: status.state, health: status.health,
                lastError: status.lastErrorResolved ? nil : status.lastError?.message, webhook: webhook)
        }
    }

    struct Delivery: Equatable {
        var url: String
        var event: Event
    }

    private struct Seen: Equatable {
        var state: String
        var health: String
        var groupID: String
        var webhook: String?
    }

    private struct State {
        var seen: [String: Seen] = [:]
        var queue: [Delivery] = []
        var stopped = false
        var started = false
    }

    public static let defaultQueueLimit = 1000
    /// Attempts per event and webhook, with backoff between them.
    static let attempts = 5
    static let firstBackoff: Duration = .milliseconds(500)
    static let requestTimeout: Duration = .seconds(5)

    private let serverWebhook: String?
    private let queueLimit: Int
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeUp = NSCondition()
    private let delivered: Counter
    private let failed: Counter
    private let dropped: Counter
    private let source = ProcessInfo.processInfo.hostName

    public init(serverWebhook: String?, queueLimit: Int = defaultQueueLimit, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.serverWebhook = serverWebhook
        self.queueLimit = queueLimit
        self.logger = logger
        let name = ConsumerMetrics.descriptor("alerts", "total", "Alert webhook events by result (delivered, failed after retries, dropped from a full queue).")
        delivered = registry.makeCounter(descriptor: name, labels: [("result", "delivered")])
        failed = registry.makeCounter(descriptor: name, labels: [("result", "failed")])
        dropped = registry.makeCounter(descriptor: name, labels: [("result", "dropped")])
    }

    /// Compares with what was seen last and queues an event per change.
    /// The first sight of a consumer is its baseline, not a change.
    func observe(_ observations: [Observation]) {
        let now = Date()
        var events: [Delivery] = []
        state.withLock { state in
            var present = Set<String>()
            for observation in observations {
                let name = observation.consumer
                present.insert(name)
                let current = Seen(
                    state: observation.state.rawValue, health: observation.health.status.rawValue, groupID: observation.groupID,
                    webhook: observation.webhook)
                defer { state.seen[name] = current }
                guard let previous = state.seen[name], previous.state != current.state || previous.health != current.health
                else { continue }
                let event = Event(
                    event: "consumer.changed", consumer: name, groupID: current.groupID,
                    state: current.state, previousState: previous.state,
                    health: current.health, previousHealth: previous.health,
                    reason: observation.health.reason, isHealthy: observation.health.isHealthy,
                    lastError: observation.lastError, at: timestamp(now), source: source)
                events += targets(current.webhook).map { Delivery(url: $0, event: event) }
            }
            for (name, previous) in state.seen where !present.contains(name) {
                state.seen[name] = nil
                let event = Event(
                    event: "consumer.deleted", consumer: name, groupID: previous.groupID,
                    state: "deleted", previousState: previous.state, health: "healthy", previousHealth: previous.health,
                    reason: nil, isHealthy: true, lastError: nil, at: timestamp(now), source: source)
                events += targets(previous.webhook).map { Delivery(url: $0, event: event) }
            }
        }
        for event in events { enqueue(event) }
    }

    private func targets(_ consumerWebhook: String?) -> [String] {
        Array(Set([serverWebhook, consumerWebhook].compactMap { $0 })).sorted()
    }

    func enqueue(_ delivery: Delivery) {
        let overflow = state.withLock { state -> Bool in
            state.queue.append(delivery)
            guard state.queue.count > queueLimit else { return false }
            state.queue.removeFirst()
            return true
        }
        if overflow {
            dropped.increment()
            logger.warning("alert queue full: dropped the oldest event", metadata: ["limit": "\(queueLimit)"])
        }
        wakeUp.lock()
        wakeUp.signal()
        wakeUp.unlock()
    }

    /// Events waiting for delivery, oldest first.
    var queued: [Delivery] { state.withLock { $0.queue } }

    /// Starts the delivery thread (once).
    func start() {
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        Thread.start(named: "cd-alerts") { [self] in deliverUntilStopped() }
    }

    /// Stops after the event in flight; what is still queued is not sent.
    func stop() {
        state.withLock { $0.stopped = true }
        wakeUp.lock()
        wakeUp.broadcast()
        wakeUp.unlock()
    }

    private func deliverUntilStopped() {
        let client = HTTPClient()
        while true {
            wakeUp.lock()
            while state.withLock({ $0.queue.isEmpty && !$0.stopped }) { wakeUp.wait() }
            wakeUp.unlock()
            guard let next = state.withLock({ state -> Delivery? in
                guard !state.stopped, !state.queue.isEmpty else { return nil }
                return state.queue.removeFirst()
            }) else { return }
            deliver(next, with: client)
        }
    }

    /// Retries connection failures, timeouts, 408, 429 and 5xx with doubling
    /// backoff; other answers are final.
    private func deliver(_ delivery: Delivery, with client: HTTPClient) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let body = try? encoder.encode(delivery.event) else { return }
        let request = HTTPClient.Request(
            method: "POST", url: delivery.url, headers: [("Content-Type", "application/json"), ("User-Agent", "consumerd")],
            body: Array(body), timeout: Self.requestTimeout, maxResponseBytes: 64 << 10)
        var backoff = Self.firstBackoff
        var problem = ""
        for attempt in 1...Self.attempts {
            do {
                let response = try client.perform(request)
                if response.isSuccess {
                    delivered.increment()
                    return
                }
                problem = "HTTP \(response.status)"
                guard response.status == 408 || response.status == 429 || response.status >= 500 else { break }
            } catch {
                problem = error.description
            }
            if attempt < Self.attempts, !state.withLock({ $0.stopped }) {
                Thread.sleep(forTimeInterval: backoff.timeInterval)
                backoff = backoff * 2
            }
        }
        failed.increment()
        logger.warning(
            "alert webhook failed",
            metadata: ["url": "\(HTTPClient.describe(delivery.url))", "consumer": "\(delivery.event.consumer)", "error": "\(problem)"])
    }
}
