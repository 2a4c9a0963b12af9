import Foundation

/// The verbs an operator can apply to a consumer.
public enum LifecycleAction: String, Sendable, CaseIterable {
    case start, stop, pause, resume, restart
}

/// What a lifecycle verb did.
public struct ActionOutcome: Sendable {
    public var status: ConsumerStatus
    /// `false` when the consumer was already where the verb leads (idempotent no-op).
    public var changed: Bool
    /// The state the verb leads to.
    public var target: ConsumerState
    /// For `restart`/`start`: the run that must be reached.
    public var targetGeneration: Int
}

extension ConsumerManager {
    /// Applies a verb. Verbs are idempotent and never block: they record the
    /// desired state and ask the runtime; use ``waitForOutcome(_:timeout:)``
    /// to wait until it is reached.
    public func perform(_ action: LifecycleAction, on name: String) throws(ConsumerManagerError) -> ActionOutcome {
        let result: Result<(changed: Bool, target: ConsumerState, generation: Int), ConsumerManagerError> = registry.withLock { registry in
            guard var entry = registry.entries[name] else { return .failure(.notFound(name)) }
            guard !entry.deleting else { return .failure(ConsumerManagerError(.conflict, "'\(name)' is being deleted")) }
            guard !registry.shuttingDown else { return .failure(.shuttingDown) }
            let outcome = apply(action, to: &entry)
            registry.entries[name] = entry
            return outcome
        }
        let outcome = try result.get()
        if outcome.changed {
            try persist(name)
            logger.info("consumer \(action.rawValue) requested", metadata: ["consumer": "\(name)"])
        }
        return ActionOutcome(
            status: try status(name), changed: outcome.changed, target: outcome.target, targetGeneration: outcome.generation)
    }

    /// Applies `action` to every consumer.
    public func performAll(_ action: LifecycleAction) -> [String: Result<ActionOutcome, ConsumerManagerError>] {
        var results: [String: Result<ActionOutcome, ConsumerManagerError>] = [:]
        for name in names {
            do {
                results[name] = .success(try perform(action, on: name))
            } catch {
                results[name] = .failure(error)
            }
        }
        return results
    }

    /// Waits until the verb's target state is reached. Throws
    /// `consumer_failed` if the consumer fails instead, `wait_timeout` if time runs out.
    public func waitForOutcome(_ outcome: ActionOutcome, timeout: Duration) async throws(ConsumerManagerError) -> ConsumerStatus {
        let name = outcome.status.name
        let deadline = ContinuousClock.now + timeout
        while true {
            let status = try status(name)
            if outcome.target == .stopped {
                if !status.state.isActive { return status }
            } else if status.generation >= outcome.targetGeneration {
                if status.state == outcome.target { return status }
                if status.state == .failed {
                    throw ConsumerManagerError(
                        .consumerFailed, "'\(name)' failed: \(status.lastError?.message ?? "unknown error")")
                }
            }
            guard ContinuousClock.now < deadline else {
                let progress = status.generation < outcome.targetGeneration
                    ? "run \(status.generation) is \(status.state.rawValue); run \(outcome.targetGeneration) has not started"
                    : "it is \(status.state.rawValue), not \(outcome.target.rawValue)"
                throw ConsumerManagerError(.waitTimeout, "'\(name)' did not settle within \(timeout): \(progress)")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The state transition of one verb. Registry lock held.
    private func apply(_ action: LifecycleAction, to entry: inout Entry) -> Result<(changed: Bool, target: ConsumerState, generation: Int), ConsumerManagerError> {
        let name = entry.spec.name
        let state = entry.runtime?.state ?? .stopped
        switch action {
        case .start, .resume:
            if action == .resume && !entry.isActive {
                return .failure(ConsumerManagerError(.conflict, "'\(name)' is \(state.rawValue); start it instead"))
            }
            let changed = entry.desired != .running || !entry.isActive || state == .stopping
            entry.desired = .running
            if action == .start { entry.consecutiveFailures = 0 }
            switch state {
            case .paused:
                entry.runtime?.requestPause(false)
            case .stopping:
                entry.restartAfterExit = entry.restartAfterExit ?? .manual
            case .stopped, .failed:
                launch(&entry, paused: false)
            case .starting, .running:
                entry.runtime?.requestPause(false)
            }
            return .success((changed, .running, entry.restartAfterExit != nil ? entry.generation + 1 : entry.generation))
        case .stop:
            let changed = entry.desired != .stopped || entry.isActive
            entry.desired = .stopped
            entry.nextRestart = nil
            entry.restartAfterExit = nil
            entry.runtime?.requestStop()
            return .success((changed, .stopped, entry.generation))
        case .pause:
            guard entry.isActive, state != .stopping else {
                return .failure(ConsumerManagerError(.conflict, "'\(name)' is \(state.rawValue); only a running consumer can be paused"))
            }
            let changed = entry.desired != .paused
            entry.desired = .paused
            entry.runtime?.requestPause(true)
            return .success((changed, .paused, entry.generation))
        case .restart:
            entry.desired = .running
            entry.consecutiveFailures = 0
            metrics.instruments(for: name).restarts(reason: RestartReason.manual.rawValue).increment()
            entry.restarts += 1
            if entry.isActive {
                entry.restartAfterExit = .manual
                entry.runtime?.requestStop()
                return .success((true, .running, entry.generation + 1))
            }
            launch(&entry, paused: false)
            return .success((true, .running, entry.generation))
        }
    }
}
