@testable import ConsumerManager
import Kafka
import Pipeline
import Prometheus
import Sinks
import Testing
import TestSupport

/// The lifecycle state machine, one transition at a time, without runtimes.
@Suite("ConsumerLifecycle transitions")
struct ConsumerLifecycleTests {
    let policy = ConsumerSpec.RestartSpec(policy: .onFailure, maxRestarts: 2, initialBackoffMilliseconds: 1000)
    let never = ConsumerSpec.RestartSpec(policy: .never)
    let now = ContinuousClock.now

    /// A consumer with a run under way.
    func running() throws -> ConsumerLifecycle {
        var lifecycle = ConsumerLifecycle(desired: .stopped)
        _ = try lifecycle.start(runStopping: false)
        return lifecycle
    }

    @Test("start from idle launches run 1; start while running only resumes")
    func start() throws {
        var lifecycle = ConsumerLifecycle(desired: .stopped)
        #expect(try lifecycle.start(runStopping: false) == [.launch(paused: false)])
        #expect(lifecycle.phase == .active && lifecycle.generation == 1 && lifecycle.desired == .running)
        #expect(try lifecycle.start(runStopping: false) == [.send(.resume)])
        #expect(lifecycle.generation == 1)
    }

    @Test("start while the run is stopping queues a new run after it")
    func startWhileStopping() throws {
        var lifecycle = try running()
        _ = try lifecycle.stop()
        #expect(try lifecycle.start(runStopping: true) == [.send(.resume)])
        #expect(lifecycle.restartsAfterRun)
        #expect(lifecycle.runEnded(failed: false, policy: policy, shuttingDown: false, now: now) == [.countRestart(.manual), .launch(paused: false)])
        #expect(lifecycle.generation == 2)
    }

    @Test("stop sends stop to a run; the run's end leaves it idle, nothing restarts")
    func stop() throws {
        var lifecycle = try running()
        #expect(try lifecycle.stop() == [.send(.stop)])
        #expect(lifecycle.desired == .stopped)
        #expect(lifecycle.runEnded(failed: false, policy: policy, shuttingDown: false, now: now).isEmpty)
        #expect(lifecycle.phase == .idle)
        #expect(try lifecycle.stop().isEmpty, "stopping a stopped consumer changes nothing")
    }

    @Test("pause and resume need a run; they only set the desired state and tell the run")
    func pauseResume() throws {
        var idle = ConsumerLifecycle(desired: .stopped)
        #expect(throws: ConsumerLifecycle.Refusal.notActive) { try idle.pause(runStopping: false) }
        #expect(throws: ConsumerLifecycle.Refusal.notActive) { try idle.resume() }
        var lifecycle = try running()
        #expect(throws: ConsumerLifecycle.Refusal.notActive) { try lifecycle.pause(runStopping: true) }
        #expect(try lifecycle.pause(runStopping: false) == [.send(.pause)])
        #expect(lifecycle.desired == .paused)
        #expect(try lifecycle.resume() == [.send(.resume)])
        #expect(lifecycle.desired == .running)
    }

    @Test("restart of a run stops it and starts the next; merged requests count once")
    func restart() throws {
        var lifecycle = try running()
        #expect(try lifecycle.restart() == [.send(.stop)])
        #expect(try lifecycle.restart().isEmpty, "a second request merges into the first")
        #expect(try lifecycle.restart().isEmpty)
        let effects = lifecycle.runEnded(failed: false, policy: policy, shuttingDown: false, now: now)
        #expect(effects == [.countRestart(.manual), .launch(paused: false)])
        #expect(lifecycle.generation == 2)
        var idle = ConsumerLifecycle(desired: .stopped)
        #expect(try idle.restart() == [.countRestart(.manual), .launch(paused: false)])
    }

    @Test("a failed run backs off by policy, restarts when due, and gives up past max_restarts")
    func failureBackoff() throws {
        var lifecycle = try running()
        #expect(lifecycle.runEnded(failed: true, policy: policy, shuttingDown: false, now: now).isEmpty)
        #expect(lifecycle.phase == .backingOff(until: now + .seconds(1)) && lifecycle.consecutiveFailures == 1)
        #expect(lifecycle.tick(now: now).isEmpty, "not due yet")
        #expect(lifecycle.tick(now: now + .seconds(1)) == [.countRestart(.failure), .launch(paused: false)])
        _ = lifecycle.runEnded(failed: true, policy: policy, shuttingDown: false, now: now)
        #expect(lifecycle.phase == .backingOff(until: now + .seconds(2)), "the backoff doubles")
        _ = lifecycle.tick(now: now + .seconds(2))
        _ = lifecycle.runEnded(failed: true, policy: policy, shuttingDown: false, now: now)
        #expect(lifecycle.phase == .failed && lifecycle.consecutiveFailures == 3, "max_restarts 2: the third failure is final")
        #expect(try lifecycle.start(runStopping: false) == [.launch(paused: false)])
        #expect(lifecycle.consecutiveFailures == 0, "an operator's start resets the count")
    }

    @Test("restart policy never: a failed run stays failed")
    func neverRestart() throws {
        var lifecycle = try running()
        _ = lifecycle.runEnded(failed: true, policy: never, shuttingDown: false, now: now)
        #expect(lifecycle.phase == .failed)
        #expect(lifecycle.tick(now: now + .seconds(3600)).isEmpty)
    }

    @Test("progress resets the failure count")
    func progress() throws {
        var lifecycle = try running()
        _ = lifecycle.runEnded(failed: true, policy: policy, shuttingDown: false, now: now)
        _ = lifecycle.tick(now: now + .seconds(1))
        lifecycle.runMadeProgress()
        #expect(lifecycle.consecutiveFailures == 0)
    }

    @Test("a spec change restarts a run that should go on, not one that is stopping")
    func specChange() throws {
        var lifecycle = try running()
        #expect(lifecycle.specChanged() == [.send(.stop)])
        #expect(lifecycle.specChanged().isEmpty, "already restarting")
        #expect(lifecycle.runEnded(failed: false, policy: policy, shuttingDown: false, now: now) == [.countRestart(.specUpdate), .launch(paused: false)])
        _ = try lifecycle.stop()
        #expect(lifecycle.specChanged().isEmpty, "a consumer told to stop stays stopped")
    }

    @Test("delete drains a run, then removes; an idle consumer goes at once; a deleting one refuses verbs")
    func delete() throws {
        var lifecycle = try running()
        #expect(lifecycle.delete() == [.send(.stop)])
        #expect(throws: ConsumerLifecycle.Refusal.deleting) { try lifecycle.start(runStopping: true) }
        #expect(lifecycle.runEnded(failed: false, policy: policy, shuttingDown: false, now: now) == [.remove])
        var idle = ConsumerLifecycle(desired: .stopped)
        #expect(idle.delete() == [.remove])
    }

    @Test("shutdown stops runs and cancels scheduled restarts; ended runs do not restart")
    func shutdown() throws {
        var lifecycle = try running()
        #expect(lifecycle.shutdown() == [.send(.stop)])
        #expect(lifecycle.runEnded(failed: false, policy: policy, shuttingDown: true, now: now).isEmpty)
        #expect(lifecycle.desired == .running, "the desired state persists for the next start")
        var backingOff = try running()
        _ = backingOff.runEnded(failed: true, policy: policy, shuttingDown: false, now: now)
        _ = backingOff.shutdown()
        #expect(backingOff.tick(now: now + .seconds(60)).isEmpty)
    }

    @Test("a paused consumer restarts paused")
    func pausedRestart() throws {
        var lifecycle = try running()
        _ = try lifecycle.pause(runStopping: false)
        _ = lifecycle.specChanged()
        #expect(lifecycle.runEnded(failed: false, policy: policy, shuttingDown: false, now: now) == [.countRestart(.specUpdate), .launch(paused: true)])
    }

    @Test("a run's mailbox hands over commands in the order sent, each once, none lost to concurrent senders")
    func mailbox() async {
        let settings = ConsumerRuntime.RunSettings(
            kafka: KafkaConfig([:]), sinkContext: SinkContext(consumer: "m", groupID: "g", sinkDirectory: "/nonexistent", logger: testLogger()),
            instruments: ConsumerMetrics(registry: PrometheusCollectorRegistry()).instruments(for: "m"), logger: testLogger(),
            producerKafka: KafkaConfig([:]), decoderServices: DecoderServices(), onExit: { _ in })
        let runtime = ConsumerRuntime(spec: ConsumerSpec(name: "m", topics: ["t"]), generation: 1, settings: settings, paused: true)
        #expect(runtime.takeCommands() == [.pause], "a run started paused finds the pause first")
        #expect(runtime.takeCommands().isEmpty)

        for command: RuntimeCommand in [.resume, .pause, .resume, .stop] { runtime.send(command) }
        #expect(runtime.stopPending)
        #expect(runtime.takeCommands() == [.resume, .pause, .resume, .stop])
        #expect(!runtime.stopPending)

        // Many senders, one reader taking as it goes: every command arrives once.
        let senders = 8
        let perSender = 500
        let reader = Task.detached {
            var taken: [RuntimeCommand] = []
            let deadline = ContinuousClock.now + .seconds(10)
            while taken.count < senders * perSender, ContinuousClock.now < deadline { taken += runtime.takeCommands() }
            return taken
        }
        await withTaskGroup(of: Void.self) { group in
            for sender in 0..<senders {
                group.addTask {
                    for _ in 0..<perSender { runtime.send(sender % 2 == 0 ? .pause : .resume) }
                }
            }
        }
        let taken = await reader.value
        #expect(taken.count == senders * perSender)
        #expect(taken.count(where: { $0 == .pause }) == senders / 2 * perSender)
    }
}
