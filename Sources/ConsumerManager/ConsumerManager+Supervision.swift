import Foundation

extension ConsumerManager {
    /// Consumers that are starting or stopping are given this long before
    /// they count as unhealthy.
    static let transitionGrace: Duration = .seconds(60)
    /// Failed runs in a row that make a crash loop (unhealthy), not a hiccup (degraded).
    static let crashLoopFailures = 3
    /// Without any broker connection for longer than this, a consumer is degraded.
    static let brokerContactGrace: Duration = .seconds(10)
    /// A run that has been running this long without failing has recovered
    /// from the failures before it, even if it had nothing to commit.
    static let steadyRun: Duration = .seconds(60)

    /// Called on a runtime's own thread when its run has ended: feeds the
    /// lifecycle, which removes a deleted consumer, counts failures, and
    /// starts the next run when one is due (restart, spec update) or
    /// schedules one by restart policy.
    func runtimeExited(_ runtime: ConsumerRuntime) {
        let name = runtime.spec.name
        let removed: Bool = registry.withLock { registry in
            guard var entry = registry.entries[name], entry.runtime === runtime else { return false }
            let snapshot = runtime.snapshot
            let failed = snapshot.state == .failed
            if failed { entry.lastFailure = snapshot.lastError }
            entry.endedRuns = entry.endedRuns + snapshot.progress.stats
            let effects = entry.lifecycle.runEnded(
                failed: failed, policy: entry.spec.restart, shuttingDown: registry.shuttingDown, now: .now)
            if effects.contains(.remove) {
                registry.entries.removeValue(forKey: name)
                return true
            }
            apply(effects, to: &entry)
            metrics.instruments(for: name).consecutiveFailures.set(Int64(entry.lifecycle.consecutiveFailures))
            if let due = entry.lifecycle.restartDue {
                logger.warning(
                    "consumer will restart after failure",
                    metadata: ["consumer": "\(name)", "in": "\(due - .now)", "consecutive_failures": "\(entry.lifecycle.consecutiveFailures)"])
            } else if entry.lifecycle.phase == .failed, !registry.shuttingDown {
                logger.error(
                    "consumer failed and will not be restarted",
                    metadata: ["consumer": "\(name)", "consecutive_failures": "\(entry.lifecycle.consecutiveFailures)"])
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
        lagMonitor?.start { [weak self] in self?.lagTargets() ?? [] }
        alerts.start()
        defer {
            lagMonitor?.stop()
            alerts.stop()
        }
        while !Task.isCancelled {
            superviseOnce()
            try? await Task.sleep(for: tick)
        }
    }

    /// One supervision pass (exposed for tests).
    public func superviseOnce() {
        let now = ContinuousClock.now
        // Nothing is observed while shutting down: consumers stopping for
        // the shutdown are not news (and must not read as deleted).
        let observations = registry.withLock { registry -> [AlertNotifier.Observation]? in
            registry.lastSupervisorTick = now
            guard !registry.shuttingDown else { return nil }
            for name in registry.entries.keys {
                guard var entry = registry.entries[name] else { continue }
                let effects = entry.lifecycle.tick(now: now)
                if !effects.isEmpty { logger.info("restarting consumer after failure", metadata: ["consumer": "\(name)"]) }
                apply(effects, to: &entry)
                if let snapshot = entry.runtime?.snapshot {
                    // A run that committed a batch has recovered; so has one
                    // that has run without failing for a while on an idle topic.
                    let steady = snapshot.state == .running && Date().timeIntervalSince(snapshot.since) > Self.steadyRun.timeInterval
                    if snapshot.state.isActive, snapshot.progress.stats.batches > 0 || steady, entry.lifecycle.consecutiveFailures > 0 {
                        entry.lifecycle.runMadeProgress()
                        metrics.instruments(for: name).consecutiveFailures.set(Int64(0))
                    }
                    sample(&entry.health, snapshot, now: now)
                }
                registry.entries[name] = entry
            }
            registry.lastHealthCheck = Date()
            return registry.entries.values.map {
                AlertNotifier.Observation(status(of: $0, lastCheck: registry.lastHealthCheck), webhook: $0.spec.alerts?.webhook)
            }
        }
        if let observations { alerts.observe(observations) }
        convergeClusterStates()
        publishClusterStatus()
    }

    /// Consumers whose group the lag monitor measures: every one with a run
    /// (a pattern subscription's topics are those it was assigned).
    func lagTargets() -> [GroupLagMonitor.Target] {
        registry.withLock { registry in
            guard !registry.shuttingDown else { return [] }
            return registry.entries.values.filter(\.isActive).map { entry in
                let topics = entry.spec.topics
                    ?? Array(Set(entry.runtime?.snapshot.progress.partitions.map(\.topic) ?? [])).sorted()
                return GroupLagMonitor.Target(
                    name: entry.spec.name, group: entry.spec.groupID, topics: topics, paused: entry.desired == .paused,
                    instruments: metrics.instruments(for: entry.spec.name))
            }
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
    /// purpose is healthy. One that runs but waits out a transient error, or
    /// has just recovered from a failed run, is degraded. One that should run
    /// but failed, crash-loops, stalled, retries for longer than
    /// `unhealthyAfter` (or past its attempts) or is stuck in a transition is
    /// unhealthy.
    func evaluateHealth(_ entry: Entry, snapshot: RuntimeSnapshot?, lastCheck: Date?) -> ConsumerHealth {
        func verdict(_ status: ConsumerHealth.Status, _ reason: String?) -> ConsumerHealth {
            ConsumerHealth(status: status, reason: reason, lastCheck: lastCheck)
        }
        guard entry.desired != .stopped, !entry.deleting else { return verdict(.healthy, nil) }
        let failures = entry.lifecycle.consecutiveFailures
        let cause = snapshot?.lastError?.message ?? entry.lastFailure?.message ?? "unknown error"
        switch entry.lifecycle.phase {
        case .failed:
            return verdict(.unhealthy, "failed (\(cause)); not restarting")
        case .backingOff(let until):
            let seconds = max(0, Int((until - .now).timeInterval.rounded(.up)))
            return verdict(.unhealthy, "failed \(failures) time(s) in a row (\(cause)); restarting in \(seconds)s")
        case .idle:
            return verdict(.unhealthy, "stopped but should be \(entry.desired.rawValue)")
        case .active:
            break
        }
        let state = snapshot?.state ?? .starting
        let inState = Date().timeIntervalSince(snapshot?.since ?? entry.registeredAt)
        switch state {
        case .failed, .stopped:
            // Ended, the lifecycle not yet told: judge by the outcome.
            return entry.lifecycle.restartsAfterRun ? verdict(.healthy, nil) : verdict(.unhealthy, "\(state.rawValue): \(cause)")
        case .starting, .stopping:
            let grace = state == .starting ? configuration.unhealthyAfter.timeInterval : Self.transitionGrace.timeInterval
            if inState > grace {
                let what = state == .starting ? "starting (no partition assignment yet)" : "stopping"
                return verdict(.unhealthy, "\(what) for \(Int(inState))s")
            }
            if failures >= Self.crashLoopFailures {
                return verdict(.unhealthy, "crash loop: restarting after \(failures) failed runs in a row (\(cause))")
            }
            return failures > 0 ? verdict(.degraded, "restarting after \(failures) failed run(s): \(cause)") : verdict(.healthy, nil)
        case .running, .paused:
            if let snapshot, snapshot.sinceLastLoop > configuration.stallTimeout {
                return verdict(.unhealthy, "stalled: the poll loop has not run for \(Int(snapshot.sinceLastLoop.timeInterval))s")
            }
            if let brokers = snapshot?.progress.brokers, brokers.up == 0 {
                let since = brokers.lastContact ?? snapshot?.since ?? entry.registeredAt
                let seconds = Date().timeIntervalSince(since)
                let reason = "no broker reachable for \(Int(seconds))s (\(brokers.known) known)"
                if seconds > configuration.unhealthyAfter.timeInterval { return verdict(.unhealthy, reason) }
                if seconds > Self.brokerContactGrace.timeInterval { return verdict(.degraded, reason) }
            }
            if let retrying = snapshot?.progress.retrying {
                let seconds = Date().timeIntervalSince(retrying.since)
                if retrying.exhausted { return verdict(.unhealthy, "retries exhausted, still retrying: \(retrying.description)") }
                if seconds > configuration.unhealthyAfter.timeInterval {
                    return verdict(.unhealthy, "for \(Int(seconds))s: \(retrying.description)")
                }
                return verdict(.degraded, retrying.description)
            }
            if let lag = lagMonitor?.report(for: entry.spec.name)?.verdict, entry.desired != .paused {
                switch lag {
                case .stalled: return verdict(.unhealthy, lag.description)
                case .fallingBehind: return verdict(.degraded, lag.description)
                }
            }
            if failures >= Self.crashLoopFailures {
                return verdict(.unhealthy, "crash loop: \(failures) failed runs in a row, no batch committed since (\(cause))")
            }
            if failures > 0 { return verdict(.degraded, "recovering after \(failures) failed run(s): \(cause)") }
            return verdict(.healthy, nil)
        }
    }

    public func health() -> HealthReport {
        HealthReport(consumers: list(), cluster: clusterView)
    }

    /// The supervisor has run recently: the manager is not wedged.
    public var isSupervising: Bool {
        ContinuousClock.now - registry.withLock({ $0.lastSupervisorTick }) < configuration.supervisorStallTimeout
    }

    public var isShuttingDown: Bool { registry.withLock { $0.shuttingDown } }

    /// Stops every consumer gracefully (last batches written and committed,
    /// groups left) without changing their persisted desired states, so they
    /// come back on the next start. Waits up to the configured shutdown
    /// timeout; returns whether every consumer finished in time.
    @discardableResult
    public func shutdown() async -> Bool {
        let draining = registry.withLock { registry -> Int in
            registry.shuttingDown = true
            var count = 0
            for (name, var entry) in registry.entries {
                if entry.isActive { count += 1 }
                apply(entry.lifecycle.shutdown(), to: &entry)
                registry.entries[name] = entry
            }
            return count
        }
        logger.info("stopping consumers", metadata: ["count": "\(draining)"])
        let drained = await poll(for: configuration.shutdownTimeout) {
            registry.withLock { !$0.entries.values.contains(where: \.isActive) }
        }
        leaveCluster()
        if drained {
            logger.info("all consumers stopped")
        } else {
            let running = registry.withLock { $0.entries.values.filter(\.isActive).map(\.spec.name).sorted() }
            logger.error(
                "consumers still running after the shutdown timeout",
                metadata: ["timeout": "\(configuration.shutdownTimeout)", "consumers": "\(running.joined(separator: ","))"])
        }
        return drained
    }
}
