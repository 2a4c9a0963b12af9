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
    /// In cluster mode the verb applies to every instance, or to `instance` alone.
    public func perform(_ action: LifecycleAction, on name: String, instance: String? = nil) throws(ConsumerManagerError) -> ActionOutcome {
        if let membership = try syncedMembership() { return try clusterPerform(action, on: name, instance: instance, membership) }
        if let instance { throw .invalid("instance", "'\(instance)': this server is not in a cluster (--cluster-id)") }
        let result: Result<(changed: Bool, target: ConsumerState, generation: Int), ConsumerManagerError> = registry.withLock { registry in
            guard var entry = registry.entries[name] else { return .failure(.notFound(name)) }
            guard !registry.shuttingDown else { return .failure(.shuttingDown) }
            let before = entry.lifecycle
            let runState = entry.runtime?.state
            let effects: [ConsumerLifecycle.Effect]
            do throws(ConsumerLifecycle.Refusal) {
                switch action {
                case .start: effects = try entry.lifecycle.start(runStopping: runState == .stopping)
                case .resume: effects = try entry.lifecycle.resume()
                case .pause: effects = try entry.lifecycle.pause(runStopping: runState == .stopping)
                case .stop: effects = try entry.lifecycle.stop()
                case .restart: effects = try entry.lifecycle.restart()
                }
            } catch .deleting {
                return .failure(ConsumerManagerError(.conflict, "'\(name)' is being deleted"))
            } catch {
                let state = entry.runtime?.state ?? .stopped
                let hint = action == .resume ? "start it instead" : "only a running consumer can be paused"
                return .failure(ConsumerManagerError(.conflict, "'\(name)' is \(state.rawValue); \(hint)"))
            }
            apply(effects, to: &entry)
            registry.entries[name] = entry
            let lifecycle = entry.lifecycle
            // A verb that finds the consumer where it leads changes nothing
            // (a resume of a running consumer, a restart already under way).
            let changed = lifecycle != before || (action == .resume && runState == .paused)
            let target: ConsumerState = switch action {
            case .stop: .stopped
            case .pause: .paused
            case .start, .resume, .restart: .running
            }
            let generation = lifecycle.restartsAfterRun ? lifecycle.generation + 1 : lifecycle.generation
            return .success((changed, target, generation))
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
    /// `deadline`: when several consumers share one `?wait=` (start-all),
    /// the common deadline; `timeout` is then the wait the caller asked for.
    public func waitForOutcome(
        _ outcome: ActionOutcome, timeout: Duration, deadline: ContinuousClock.Instant? = nil
    ) async throws(ConsumerManagerError) -> ConsumerStatus {
        let name = outcome.status.name
        let deadline = deadline ?? ContinuousClock.now + timeout
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
                throw ConsumerManagerError(
                    .waitTimeout, "'\(name)' did not settle within \(String(format: "%g", timeout.timeInterval)) s: \(progress)")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
