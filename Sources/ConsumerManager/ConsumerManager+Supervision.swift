import Foundation

extension ConsumerManager {
    /// Consumers that are starting or stopping are given this long before
    /// they count as unhealthy.
    static let transitionGrace: Duration = .seconds(60)

    /// Called on a runtime's own thread when its run has ended: removes a
    /// deleted consumer, counts failures, and starts the next run when one
    /// is due (restart, spec update) or schedules one by restart policy.
    func runtimeExited(_ runtime: ConsumerRuntime) {
        let name = runtime.spec.name
        let removed: Bool = registry.withLock { registry in
            guard var entry = registry.entries[name], entry.runtime === runtime else { return false }
            if entry.deleting {
                registry.entries.removeValue(forKey: name)
                return true
            }
            let snapshot = runtime.snapshot
            let instruments = metrics.instruments(for: name)
            if snapshot.state == .failed {
                entry.consecutiveFailures += 1
                entry.lastFailure = snapshot.lastError
                instruments.consecutiveFailures.set(Int64(entry.consecutiveFailures))
            }
            if registry.shuttingDown {
                // Nothing starts again; desired states stay as persisted.
            } else if let reason = entry.restartAfterExit, entry.desired != .stopped {
                if reason != .manual {
                    // Manual restarts were counted when requested.
                    instruments.restarts(reason: reason.rawValue).increment()
                    entry.restarts += 1
                }
                launch(&entry, paused: entry.desired == .paused)
            } else if snapshot.state == .failed, entry.desired != .stopped,
                entry.spec.restart.allowsRestart(afterFailures: entry.consecutiveFailures)
            {
                let delay = entry.spec.restart.backoff(afterFailures: entry.consecutiveFailures)
                entry.nextRestart = (ContinuousClock.now + delay, Date().addingTimeInterval(delay.timeInterval))
                logger.warning(
                    "consumer will restart after failure",
                    metadata: ["consumer": "\(name)", "in": "\(delay)", "consecutive_failures": "\(entry.consecutiveFailures)"])
            } else if snapshot.state == .failed {
                logger.error(
                    "consumer failed and will not be restarted",
                    metadata: ["consumer": "\(name)", "consecutive_failures": "\(entry.consecutiveFailures)"])
            }
            registry.entries[name] = entry
            return false
        }
        if removed {
            metrics.remove(consumer: name)
            logger.info("consumer removed", metadata: ["consumer": "\(name)"])
        }
    }

    /// Runs until the task is cancelled: due restarts, failure-count resets,
    /// throughput sampling and health checks.
    public func supervise(every tick: Duration = .seconds(1)) async {
        while !Task.isCancelled {
            superviseOnce()
            try? await Task.sleep(for: tick)
        }
    }

    /// One supervision pass (exposed for tests).
    public func superviseOnce() {
        let now = ContinuousClock.now
        registry.withLock { registry in
            registry.lastSupervisorTick = now
            for name in registry.entries.keys {
                guard var entry = registry.entries[name] else { continue }
                if let due = entry.nextRestart, due.at <= now, !entry.isActive, !entry.deleting, entry.desired != .stopped {
                    metrics.instruments(for: name).restarts(reason: RestartReason.failure.rawValue).increment()
                    entry.restarts += 1
                    logger.info("restarting consumer after failure", metadata: ["consumer": "\(name)"])
                    launch(&entry, paused: entry.desired == .paused)
                }
                if let snapshot = entry.runtime?.snapshot {
                    // A run that committed a batch has recovered.
                    if snapshot.state.isActive, snapshot.progress.stats.batches > 0, entry.consecutiveFailures > 0 {
                        entry.consecutiveFailures = 0
                        metrics.instruments(for: name).consecutiveFailures.set(Int64(0))
                    }
                    sample(&entry.health, snapshot, now: now)
                }
                registry.entries[name] = entry
            }
            registry.lastHealthCheck = Date()
        }
    }

    /// Rates over the last health interval, from the run's counters.
    private func sample(_ health: inout HealthSample, _ snapshot: RuntimeSnapshot, now: ContinuousClock.Instant) {
        if let at = health.at, now - at < configuration.healthInterval, health.generation == snapshot.generation { return }
        let consumed = snapshot.progress.stats.messagesConsumed
        let written = snapshot.progress.stats.recordsWritten
        if let at = health.at, health.generation == snapshot.generation {
            let seconds = max((now - at).timeInterval, 0.001)
            health.rates = Rates(
                inputRowsPerSecond: Double(consumed - health.consumed) / seconds,
                processedRowsPerSecond: Double(written - health.written) / seconds)
        } else {
            health.rates = Rates()
        }
        health.consumed = consumed
        health.written = written
        health.generation = snapshot.generation
        health.at = now
    }

    /// Healthy means: doing what the operator asked. A consumer stopped on
    /// purpose is healthy; one that should run but failed, stalled or is
    /// stuck in a transition is not.
    func evaluateHealth(_ entry: Entry, snapshot: RuntimeSnapshot?, lastCheck: Date?) -> ConsumerHealth {
        func unhealthy(_ reason: String) -> ConsumerHealth {
            ConsumerHealth(status: .unhealthy, reason: reason, lastCheck: lastCheck)
        }
        let healthy = ConsumerHealth(status: .healthy, reason: nil, lastCheck: lastCheck)
        guard entry.desired != .stopped, !entry.deleting else { return healthy }
        let state = snapshot?.state ?? .stopped
        let inState = Date().timeIntervalSince(snapshot?.since ?? entry.registeredAt)
        switch state {
        case .failed:
            let cause = snapshot?.lastError?.message ?? entry.lastFailure?.message ?? "unknown error"
            if let next = entry.nextRestart {
                let seconds = max(0, Int(next.date.timeIntervalSinceNow.rounded(.up)))
                return unhealthy("failed (\(cause)); restarting in \(seconds)s")
            }
            return unhealthy("failed (\(cause)); not restarting")
        case .stopped:
            return entry.restartAfterExit != nil ? healthy : unhealthy("stopped but should be \(entry.desired.rawValue)")
        case .starting, .stopping:
            return inState > Self.transitionGrace.timeInterval
                ? unhealthy("\(state.rawValue) for \(Int(inState))s") : healthy
        case .running, .paused:
            if let snapshot, snapshot.sinceLastLoop > configuration.stallTimeout {
                return unhealthy("stalled: the poll loop has not run for \(Int(snapshot.sinceLastLoop.timeInterval))s")
            }
            if let reason = snapshot?.progress.degradedReason {
                return ConsumerHealth(status: .degraded, reason: reason, lastCheck: lastCheck)
            }
            return healthy
        }
    }

    public func health() -> HealthReport {
        HealthReport(consumers: list())
    }

    /// The supervisor has run recently: the manager is not wedged.
    public var isSupervising: Bool {
        ContinuousClock.now - registry.withLock({ $0.lastSupervisorTick }) < .seconds(10)
    }

    public var isShuttingDown: Bool { registry.withLock { $0.shuttingDown } }

    /// Stops every consumer gracefully (last batches written and committed)
    /// without changing their persisted desired states, so they come back on
    /// the next start. Waits up to the configured shutdown timeout.
    public func shutdown() async {
        let draining = registry.withLock { registry -> Int in
            registry.shuttingDown = true
            var count = 0
            for (name, var entry) in registry.entries {
                entry.nextRestart = nil
                entry.restartAfterExit = nil
                if entry.isActive {
                    entry.runtime?.requestStop()
                    count += 1
                }
                registry.entries[name] = entry
            }
            return count
        }
        logger.info("stopping consumers", metadata: ["count": "\(draining)"])
        let drained = await poll(for: configuration.shutdownTimeout) {
            registry.withLock { !$0.entries.values.contains(where: \.isActive) }
        }
        if drained {
            logger.info("all consumers stopped")
        } else {
            logger.error("consumers still running after the shutdown timeout", metadata: ["timeout": "\(configuration.shutdownTimeout)"])
        }
    }
}
