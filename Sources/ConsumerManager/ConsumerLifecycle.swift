/// One consumer's lifecycle as an explicit state machine: what the operator
/// asked for, whether a run exists and what must happen when it ends. Every
/// operator verb and every report from a run is an event; the machine
/// answers with effects that the manager carries out (start a run, send the
/// run a command, schedule a restart, remove the consumer). It does no I/O,
/// so each transition is tested on its own.
///
/// The run itself reports the finer states (starting, running, paused,
/// stopping); the machine only needs to know whether one exists.
struct ConsumerLifecycle: Sendable, Equatable {
    /// Where the consumer is between runs, or that a run exists.
    enum Phase: Sendable, Equatable {
        /// No run; none planned.
        case idle
        /// A run exists (it reports starting, running, paused or stopping).
        case active
        /// The last run failed; the restart policy starts the next at `until`.
        case backingOff(until: ContinuousClock.Instant)
        /// The last run failed and the policy gives up (or forbids restarts).
        case failed
    }

    /// What to do once the current run has ended.
    enum AfterRun: Sendable, Equatable {
        case restart(RestartReason)
        case remove
    }

    enum RestartReason: String, Sendable, Equatable {
        case failure, manual
        case specUpdate = "spec_update"
    }

    /// What the manager must do for a transition.
    enum Effect: Sendable, Equatable {
        /// Start a new run (the generation is already counted).
        case launch(paused: Bool)
        /// Tell the current run.
        case send(RuntimeCommand)
        /// Count a restart that is happening now.
        case countRestart(RestartReason)
        /// Drop the consumer from the registry.
        case remove
    }

    enum Refusal: Error, Sendable, Equatable {
        case notActive
        case deleting
    }

    private(set) var desired: DesiredState
    private(set) var phase: Phase = .idle
    /// The current (or last) run; a launch increases it.
    private(set) var generation = 0
    private(set) var afterRun: AfterRun?
    /// Failed runs since the last one that committed a batch.
    private(set) var consecutiveFailures = 0
    /// Restarts that happened (requests that merged into one count once).
    private(set) var restarts = 0
    var isDeleting: Bool { afterRun == .remove }
    var hasRun: Bool { phase == .active }

    init(desired: DesiredState) {
        self.desired = desired
    }

    // MARK: Operator verbs

    /// `start`: run (again), resetting the failure count.
    mutating func start(runStopping: Bool) throws(Refusal) -> [Effect] {
        try refuseWhileDeleting()
        desired = .running
        consecutiveFailures = 0
        switch phase {
        case .active:
            // A run on its way out is followed by a new one.
            if runStopping, afterRun == nil { afterRun = .restart(.manual) }
            return [.send(.resume)]
        case .idle, .failed, .backingOff:
            return launch(paused: false)
        }
    }

    /// `resume`: only for a run that exists.
    mutating func resume() throws(Refusal) -> [Effect] {
        try refuseWhileDeleting()
        guard phase == .active else { throw .notActive }
        desired = .running
        return [.send(.resume)]
    }

    mutating func pause(runStopping: Bool) throws(Refusal) -> [Effect] {
        try refuseWhileDeleting()
        guard phase == .active, !runStopping else { throw .notActive }
        desired = .paused
        return [.send(.pause)]
    }

    /// `stop`: the run drains and ends; nothing starts again.
    mutating func stop() throws(Refusal) -> [Effect] {
        try refuseWhileDeleting()
        desired = .stopped
        afterRun = nil
        switch phase {
        case .active:
            return [.send(.stop)]
        case .backingOff, .failed:
            phase = .idle
            return []
        case .idle:
            return []
        }
    }

    /// `restart`: a new run, now. Requests that arrive while the first one is
    /// under way merge into it.
    mutating func restart() throws(Refusal) -> [Effect] {
        try refuseWhileDeleting()
        desired = .running
        consecutiveFailures = 0
        switch phase {
        case .active:
            guard afterRun == nil else { return [] }
            afterRun = .restart(.manual)
            return [.send(.stop)]
        case .idle, .failed, .backingOff:
            return [.countRestart(.manual)] + launch(paused: false)
        }
    }

    /// `DELETE`: drain the run if there is one, then remove.
    mutating func delete() -> [Effect] {
        afterRun = .remove
        switch phase {
        case .active: return [.send(.stop)]
        case .idle, .failed, .backingOff: return [.remove]
        }
    }

    /// A new spec: a run that should go on restarts with it.
    mutating func specChanged() -> [Effect] {
        guard phase == .active, desired != .stopped, afterRun == nil else { return [] }
        afterRun = .restart(.specUpdate)
        return [.send(.stop)]
    }

    // MARK: Reports

    /// The run committed a batch: whatever failed before is over.
    mutating func runMadeProgress() {
        consecutiveFailures = 0
    }

    /// The run ended (stopped or failed). `shuttingDown`: nothing starts again.
    mutating func runEnded(failed: Bool, policy: ConsumerSpec.RestartSpec, shuttingDown: Bool, now: ContinuousClock.Instant) -> [Effect] {
        guard phase == .active else { return [] }
        if failed { consecutiveFailures += 1 }
        let next = afterRun
        afterRun = nil
        phase = failed ? .failed : .idle
        if next == .remove { return [.remove] }
        if shuttingDown { return [] }
        if case .restart(let reason) = next, desired != .stopped {
            return [.countRestart(reason)] + launch(paused: desired == .paused)
        }
        if failed, desired != .stopped, policy.allowsRestart(afterFailures: consecutiveFailures) {
            phase = .backingOff(until: now + policy.backoff(afterFailures: consecutiveFailures))
        }
        return []
    }

    /// Time passed: a scheduled restart may be due.
    mutating func tick(now: ContinuousClock.Instant) -> [Effect] {
        guard case .backingOff(let until) = phase, until <= now, desired != .stopped else { return [] }
        return [.countRestart(.failure)] + launch(paused: desired == .paused)
    }

    /// Server shutdown: no scheduled restart happens.
    mutating func shutdown() -> [Effect] {
        if case .backingOff = phase { phase = .failed }
        afterRun = afterRun == .remove ? .remove : nil
        return phase == .active ? [.send(.stop)] : []
    }

    // MARK: Helpers

    private mutating func launch(paused: Bool) -> [Effect] {
        generation += 1
        phase = .active
        afterRun = nil
        return [.launch(paused: paused)]
    }

    private func refuseWhileDeleting() throws(Refusal) {
        if isDeleting { throw .deleting }
    }

    /// When a scheduled restart is due.
    var restartDue: ContinuousClock.Instant? {
        if case .backingOff(let until) = phase { return until }
        return nil
    }

    /// A restart will follow the current run.
    var restartsAfterRun: Bool {
        if case .restart = afterRun { return true }
        return false
    }

    mutating func countRestart() { restarts += 1 }
}

/// What the manager tells a run, through its mailbox.
enum RuntimeCommand: Sendable, Equatable {
    case pause, resume
    /// Drain (write and commit the batch), leave the group, end.
    case stop
}
