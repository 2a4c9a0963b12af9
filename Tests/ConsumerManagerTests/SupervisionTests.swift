@testable import ConsumerManager
import Kafka
import Logging
import Prometheus
import Testing
import TestSupport

/// The lag monitor's verdicts and the alert notifier's events, without a
/// cluster: both are fed what the supervisor would see.
@Suite("Supervision: lag verdicts and alert events")
struct SupervisionTests {
    let start = ContinuousClock.now
    let window: Duration = .seconds(60)
    let partition = TopicPartition(topic: "t", partition: 0)

    /// Samples every 10 s from `start`: (committed, high watermark).
    func series(_ points: [(Int64?, Int64)]) -> [GroupLagMonitor.Sample] {
        points.enumerated().map { index, point in
            GroupLagMonitor.Sample(at: start + .seconds(10 * index), committed: point.0, high: point.1)
        }
    }

    @Test("a committed offset that does not move while records wait is stalled")
    func stalled() {
        let samples = series([(5, 10), (5, 12), (5, 15), (5, 15), (5, 16), (5, 20), (5, 20)])
        guard case .stalled(let stuck, let committed, let lag, let seconds) = GroupLagMonitor.evaluate([partition: samples], window: window)
        else {
            Issue.record("expected stalled")
            return
        }
        #expect((stuck, committed, lag, seconds) == (partition, 5, 15, 60))
    }

    @Test("lag that rises at every sample of the window is falling behind")
    func fallingBehind() {
        let samples = series([(0, 10), (5, 20), (10, 40), (20, 70), (30, 110), (40, 160), (50, 220)])
        #expect(GroupLagMonitor.evaluate([partition: samples], window: window)
            == .fallingBehind(partition: partition, from: 10, to: 170, seconds: 60))
    }

    @Test("no verdict before a full window, for a consumer keeping up, or for one catching up")
    func noVerdict() {
        let short = series([(5, 10), (5, 12), (5, 15)])
        #expect(GroupLagMonitor.evaluate([partition: short], window: window) == nil, "only 20 s of samples")
        let keepingUp = series([(10, 10), (20, 21), (30, 30), (40, 42), (50, 50), (60, 61), (70, 70)])
        #expect(GroupLagMonitor.evaluate([partition: keepingUp], window: window) == nil)
        let idle = series(Array(repeating: (10, 10), count: 7))
        #expect(GroupLagMonitor.evaluate([partition: idle], window: window) == nil, "no lag is never stalled")
        let catchingUp = series([(0, 100), (20, 100), (40, 100), (60, 100), (80, 100), (90, 100), (100, 100)])
        #expect(GroupLagMonitor.evaluate([partition: catchingUp], window: window) == nil)
        let nothingCommitted = series(Array(repeating: (nil, 0), count: 7))
        #expect(GroupLagMonitor.evaluate([partition: nothingCommitted], window: window) == nil)
    }

    @Test("the worst partition decides: stalled beats falling behind")
    func worstPartition() {
        let other = TopicPartition(topic: "t", partition: 1)
        let rising = series([(0, 10), (5, 20), (10, 40), (20, 70), (30, 110), (40, 160), (50, 220)])
        let stuck = series(Array(repeating: (3, 9), count: 7))
        guard case .stalled(let which, _, _, _) = GroupLagMonitor.evaluate([partition: rising, other: stuck], window: window) else {
            Issue.record("expected stalled")
            return
        }
        #expect(which == other)
    }

    func notifier(server: String? = "http://alerts.example/hook", queueLimit: Int = 100) -> AlertNotifier {
        AlertNotifier(serverWebhook: server, queueLimit: queueLimit, registry: PrometheusCollectorRegistry(), logger: testLogger())
    }

    func seen(_ state: ConsumerState, _ health: ConsumerHealth.Status, webhook: String? = nil, name: String = "trades")
        -> AlertNotifier.Observation
    {
        AlertNotifier.Observation(
            consumer: name, groupID: "g-\(name)", state: state,
            health: ConsumerHealth(status: health, reason: health == .healthy ? nil : "sink: disk full"),
            lastError: health == .healthy ? nil : "sink: disk full", webhook: webhook)
    }

    @Test("the first sight is a baseline; each state or health change is one event per webhook, in order")
    func changes() {
        let alerts = notifier()
        alerts.observe([seen(.starting, .healthy, webhook: "http://team.example/x")])
        #expect(alerts.queued.isEmpty, "first sight: no event")
        alerts.observe([seen(.starting, .healthy, webhook: "http://team.example/x")])
        #expect(alerts.queued.isEmpty, "no change: no event")

        alerts.observe([seen(.running, .healthy, webhook: "http://team.example/x")])
        alerts.observe([seen(.running, .degraded, webhook: "http://team.example/x")])
        let queued = alerts.queued
        #expect(queued.map(\.url) == ["http://alerts.example/hook", "http://team.example/x", "http://alerts.example/hook", "http://team.example/x"])
        let degraded = queued[2].event
        #expect(degraded.event == "consumer.changed")
        #expect((degraded.previousState, degraded.state) == ("running", "running"))
        #expect((degraded.previousHealth, degraded.health) == ("healthy", "degraded"))
        #expect(degraded.isHealthy == false)
        #expect(degraded.reason == "sink: disk full")
        #expect(degraded.lastError == "sink: disk full")
        #expect(degraded.groupID == "g-trades")
    }

    @Test("a consumer that disappears is a deletion event; one webhook for both is posted once")
    func deletion() {
        let alerts = notifier(server: "http://same.example/")
        alerts.observe([seen(.running, .healthy, webhook: "http://same.example/"), seen(.running, .healthy, name: "other")])
        alerts.observe([seen(.running, .healthy, name: "other")])
        let queued = alerts.queued
        #expect(queued.count == 1)
        #expect(queued.first?.event.event == "consumer.deleted")
        #expect(queued.first?.event.consumer == "trades")
        #expect(queued.first?.event.previousState == "running")
    }

    @Test("a full queue drops the oldest event and counts it")
    func overflow() {
        let registry = PrometheusCollectorRegistry()
        let alerts = AlertNotifier(serverWebhook: "http://a.example/", queueLimit: 2, registry: registry, logger: testLogger())
        alerts.observe([seen(.starting, .healthy)])
        alerts.observe([seen(.running, .healthy)])
        alerts.observe([seen(.running, .degraded)])
        alerts.observe([seen(.running, .unhealthy)])
        #expect(alerts.queued.map(\.event.health) == ["degraded", "unhealthy"])
        #expect(registry.emitToString().contains(#"consumerd_alerts_total{result="dropped"} 1"#))
    }
}
