import Foundation
import Kafka
import Synchronization

/// Cluster mode: the registry is the cluster's config topic, not the data
/// directory. A change made through this instance is produced to the topic
/// and applied, here as everywhere, when it is read back, in topic order
/// (``ClusterLog``); the REST call answers once this instance has applied it.
/// Each instance runs every consumer as a member of the consumer's group, so
/// Kafka spreads the partitions over the instances.
extension ConsumerManager {
    public struct ClusterSettings: Sendable {
        public var clusterID: String
        public var instance: String
        public var configTopic: String
        public var statusTopic: String
        public var secrets: SecretBox?
        public var allowPlaintextSecrets: Bool

        public init(
            clusterID: String, instance: String, configTopic: String? = nil, statusTopic: String? = nil, secrets: SecretBox? = nil,
            allowPlaintextSecrets: Bool = false
        ) {
            self.clusterID = clusterID
            self.instance = instance
            self.configTopic = configTopic ?? "_consumerd-\(clusterID)-configs"
            self.statusTopic = statusTopic ?? "_consumerd-\(clusterID)-status"
            self.secrets = secrets
            self.allowPlaintextSecrets = allowPlaintextSecrets
        }
    }

    /// What this instance knows of the cluster.
    struct ClusterMembership: Sendable {
        let log: ClusterLog
        /// The last applied record of every consumer.
        var records: [String: ClusterRecord] = [:]
        /// The config topic has been read to its end once: restart requests
        /// read before that are history, not requests.
        var live = false
        var instance: String { log.settings.instance }
    }

    /// A cluster member and what it reports, for status and health.
    public struct ClusterMember: Sendable, Equatable {
        public var instance: String
        public var state: String
        public var generation: Int
        public var partitions: [MemberPartition]
        public var updatedAt: Date
    }

    /// A partition a member holds, as its instance reported it.
    public struct MemberPartition: Codable, Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        public var lag: Int64?
    }

    /// The cluster as `/health` shows it.
    public struct ClusterView: Sendable, Equatable {
        public var id: String
        public var instance: String
        /// Instances heard from recently, this one included.
        public var instances: [String]
    }

    public var isClustered: Bool { cluster.withLock { $0 != nil } }

    /// How long a change made through this instance waits to be acknowledged and read back.
    public static let clusterPublishTimeout = ClusterLog.publishTimeout

    /// Status records older than this many health intervals drop a member from view.
    static let memberFreshnessIntervals = 3

    /// Joins the cluster: creates its topics if missing, reads the config
    /// topic into the registry (instead of the data directory), starts the
    /// consumers it holds, and follows it. Throws, with nothing started, if
    /// a record cannot be read (sealed without the key, plain-text secrets).
    public func joinCluster(_ settings: ClusterSettings) throws(ConsumerManagerError) {
        guard let admin else { throw ConsumerManagerError(.kafkaUnavailable, "cluster mode needs the Kafka admin client") }
        let log = try ClusterLog(
            settings: ClusterLog.Settings(
                clusterID: settings.clusterID, instance: settings.instance, configTopic: settings.configTopic,
                statusTopic: settings.statusTopic, kafka: configuration.kafka,
                codec: ClusterRecordCodec(box: settings.secrets, allowPlaintextSecrets: settings.allowPlaintextSecrets)),
            logger: logger
        ) { [weak self] name, record in
            self?.reconcile(name, record) ?? .applied
        }
        cluster.withLock { $0 = ClusterMembership(log: log) }
        do throws(ConsumerManagerError) {
            try log.catchUp(admin: admin)
        } catch {
            cluster.withLock { $0 = nil }
            log.stop()
            throw error
        }
        cluster.withLock { $0?.live = true }
        logger.info(
            "joined cluster",
            metadata: [
                "cluster": "\(settings.clusterID)", "instance": "\(settings.instance)", "config_topic": "\(settings.configTopic)",
                "consumers": "\(names.count)",
            ])
    }

    /// What cluster mode does not do yet: the state it keeps (a pending
    /// reset, the redrive ledger) is one instance's, not the cluster's.
    func refuseInCluster(_ what: String) throws(ConsumerManagerError) {
        guard !isClustered else {
            throw ConsumerManagerError(.conflict, "\(what) are not available in cluster mode yet: they would reach one instance's members only")
        }
    }

    func leaveCluster() {
        cluster.withLock { $0 }?.log.stop()
    }

    // MARK: Applying records (the follower thread)

    /// Makes the local registry match a record read from the config topic.
    func reconcile(_ name: String, _ record: ClusterRecord?) -> ClusterLog.Outcome {
        let step = cluster.withLock { membership -> (previous: ClusterRecord?, instance: String, live: Bool, conflict: Int?)? in
            guard let current = membership else { return nil }
            let previous = current.records[name]
            if let record, let previous, record.version != previous.version + 1 {
                return (previous, current.instance, current.live, previous.version)
            }
            membership?.records[name] = record
            return (previous, current.instance, current.live, nil)
        }
        guard let (previous, instance, live, conflict) = step else { return .applied }
        if let conflict {
            logger.info("ignoring a concurrent change", metadata: ["consumer": "\(name)", "origin": "\(record?.origin ?? "")"])
            return .conflict(current: conflict)
        }
        guard let record else {
            let removed = registry.withLock { registry -> Bool in
                guard var entry = registry.entries[name] else { return false }
                let effects = entry.lifecycle.delete()
                if effects.contains(.remove) {
                    registry.entries.removeValue(forKey: name)
                    return true
                }
                apply(effects, to: &entry)
                registry.entries[name] = entry
                return false
            }
            if removed { metrics.remove(consumer: name) }
            logger.info("consumer deleted", metadata: ["consumer": "\(name)"])
            return .applied
        }
        registry.withLock { registry in
            var entry = registry.entries[name] ?? Entry(spec: record.spec, desired: .stopped)
            // Registered again while its deleted predecessor still drains
            // here: the supervision pass adds it once that one is gone.
            guard !entry.deleting else { return }
            if entry.spec != record.spec {
                entry.spec = record.spec
                apply(entry.lifecycle.specChanged(), to: &entry)
            }
            converge(&entry, to: record.desiredState(on: instance))
            if live, let previous, record.restartCount(on: instance) > previous.restartCount(on: instance), entry.desired != .stopped {
                apply(try? entry.lifecycle.restart(), to: &entry)
            }
            registry.entries[name] = entry
        }
        return .applied
    }

    /// Moves a consumer's desired state towards the record's. A step the
    /// lifecycle refuses now (pausing a run that is still stopping for a
    /// restart) is taken on a later supervision pass
    /// (``convergeClusterStates()``): records are applied once, states are
    /// reconciled until they match.
    func converge(_ entry: inout Entry, to desired: DesiredState) {
        let runStopping = entry.runtime?.state == .stopping
        switch (entry.desired, desired) {
        case (.paused, .running): apply(try? entry.lifecycle.resume(), to: &entry)
        case (.stopped, .running): apply(try? entry.lifecycle.start(runStopping: runStopping), to: &entry)
        case (.stopped, .paused):
            apply(try? entry.lifecycle.start(runStopping: runStopping), to: &entry)
            apply(try? entry.lifecycle.pause(runStopping: runStopping), to: &entry)
        case (.running, .paused): apply(try? entry.lifecycle.pause(runStopping: runStopping), to: &entry)
        case (.running, .stopped), (.paused, .stopped): apply(try? entry.lifecycle.stop(), to: &entry)
        default: break
        }
    }

    /// Each supervision pass: consumers whose desired state still differs
    /// from their record's take the next step.
    func convergeClusterStates() {
        guard let membership = membership(), membership.live else { return }
        registry.withLock { registry in
            guard !registry.shuttingDown else { return }
            for (name, record) in membership.records {
                // A consumer registered again while its deleted predecessor
                // was still draining here arrives once that one is gone.
                var entry = registry.entries[name] ?? Entry(spec: record.spec, desired: .stopped)
                guard !entry.deleting else { continue }
                let desired = record.desiredState(on: membership.instance)
                guard entry.desired != desired || registry.entries[name] == nil else { continue }
                converge(&entry, to: desired)
                registry.entries[name] = entry
            }
        }
    }

    // MARK: Changes made through this instance

    private func membership() -> ClusterMembership? { cluster.withLock { $0 } }

    /// In cluster mode, this instance's view once it has applied everything
    /// in the config topic up to now: a change is built on the latest
    /// state, so a call made right after another instance's change does not
    /// conflict with it. `nil` on a single node.
    func syncedMembership() throws(ConsumerManagerError) -> ClusterMembership? {
        guard let log = membership()?.log else { return nil }
        try log.sync()
        return membership()
    }

    /// Publishes `record` and maps a lost race to 409.
    private func publish(_ log: ClusterLog, _ name: String, _ record: ClusterRecord?) throws(ConsumerManagerError) {
        if case .conflict = try log.publish(name, record) {
            throw ConsumerManagerError(.conflict, "'\(name)' was changed on another instance at the same time; read it again and retry")
        }
    }

    func clusterCreate(_ spec: ConsumerSpec, _ membership: ClusterMembership) throws(ConsumerManagerError) -> ConsumerStatus {
        try spec.validate()
        try checkClientConfiguration(of: spec)
        let refusal: ConsumerManagerError? = registry.withLock { registry in
            if registry.shuttingDown { return .shuttingDown }
            if registry.entries[spec.name] != nil || membership.records[spec.name] != nil {
                return ConsumerManagerError(.alreadyExists, "a consumer named '\(spec.name)' already exists", field: "name")
            }
            if registry.entries.count >= configuration.maxConsumers {
                return ConsumerManagerError(.limitExceeded, "at most \(configuration.maxConsumers) consumers can be registered")
            }
            return sinkConflict(for: spec, in: registry)
        }
        if let refusal { throw refusal }
        let record = ClusterRecord(
            version: (membership.records[spec.name]?.version ?? 0) + 1, spec: spec, desiredState: spec.autostart ? .running : .stopped,
            origin: membership.instance)
        do {
            try publish(membership.log, spec.name, record)
        } catch where error.kind == .conflict {
            throw ConsumerManagerError(.alreadyExists, "a consumer named '\(spec.name)' was created on another instance at the same time", field: "name")
        }
        return try status(spec.name)
    }

    func clusterReplace(_ name: String, with spec: ConsumerSpec, _ membership: ClusterMembership) throws(ConsumerManagerError) -> Bool {
        guard var record = membership.records[name] else { throw .notFound(name) }
        try spec.validate()
        try checkClientConfiguration(of: spec)
        let refusal: ConsumerManagerError? = registry.withLock { registry in
            if registry.shuttingDown { return .shuttingDown }
            return sinkConflict(for: spec, in: registry)
        }
        if let refusal { throw refusal }
        guard record.spec != spec else { return false }
        record.spec = spec
        record.version += 1
        record.origin = membership.instance
        try publish(membership.log, name, record)
        return true
    }

    func clusterDelete(_ name: String, _ membership: ClusterMembership) throws(ConsumerManagerError) -> DeleteOutcome {
        guard membership.records[name] != nil else { throw .notFound(name) }
        try publish(membership.log, name, nil)
        let outcome: DeleteOutcome = registry.withLock { registry in
            guard let entry = registry.entries[name] else { return .removed }
            return .stopping(status(of: entry, lastCheck: registry.lastHealthCheck))
        }
        return outcome
    }

    /// A verb for the whole cluster, or (`instance`) for one member:
    /// pause, resume and restart only.
    func clusterPerform(
        _ action: LifecycleAction, on name: String, instance: String?, _ membership: ClusterMembership
    ) throws(ConsumerManagerError) -> ActionOutcome {
        guard var record = membership.records[name] else { throw .notFound(name) }
        let before = record
        if let instance {
            guard [.pause, .resume, .restart].contains(action) else {
                throw .invalid("instance", "only pause, resume and restart apply to one instance; \(action.rawValue) applies to the cluster")
            }
            switch action {
            case .pause:
                guard record.desiredState == .running else {
                    throw ConsumerManagerError(.conflict, "'\(name)' is \(record.desiredState.rawValue); only a running consumer can be paused")
                }
                if !record.pausedOn.contains(instance) { record.pausedOn.append(instance) }
            case .resume: record.pausedOn.removeAll { $0 == instance }
            default: record.restarts[instance, default: 0] += 1
            }
        } else {
            // The verb must make sense for this instance's copy, as in single-node mode.
            let refusal: ConsumerManagerError? = registry.withLock { registry in
                guard var entry = registry.entries[name] else { return .notFound(name) }
                let runStopping = entry.runtime?.state == .stopping
                do throws(ConsumerLifecycle.Refusal) {
                    switch action {
                    case .start: _ = try entry.lifecycle.start(runStopping: runStopping)
                    case .resume: _ = try entry.lifecycle.resume()
                    case .pause: _ = try entry.lifecycle.pause(runStopping: runStopping)
                    case .stop: _ = try entry.lifecycle.stop()
                    case .restart: _ = try entry.lifecycle.restart()
                    }
                } catch .deleting {
                    return ConsumerManagerError(.conflict, "'\(name)' is being deleted")
                } catch {
                    let state = entry.runtime?.state ?? .stopped
                    let hint = action == .resume ? "start it instead" : "only a running consumer can be paused"
                    return ConsumerManagerError(.conflict, "'\(name)' is \(state.rawValue); \(hint)")
                }
                return nil
            }
            if let refusal { throw refusal }
            switch action {
            case .start, .resume:
                record.desiredState = .running
                record.pausedOn = []
            case .pause: record.desiredState = .paused
            case .stop: record.desiredState = .stopped
            case .restart: record.restarts["*", default: 0] += 1
            }
        }
        let changed = record != before
        if changed {
            record.version += 1
            record.origin = membership.instance
            try publish(membership.log, name, record)
            logger.info("consumer \(action.rawValue) requested", metadata: ["consumer": "\(name)", "instance": "\(instance ?? "*")"])
        }
        // What this instance's copy now heads for (another instance's own
        // restart or pause leaves it where it was).
        return try registry.withLock { registry throws(ConsumerManagerError) -> ActionOutcome in
            guard let entry = registry.entries[name] else { throw .notFound(name) }
            let lifecycle = entry.lifecycle
            let target: ConsumerState = switch lifecycle.desired {
            case .stopped: .stopped
            case .paused: .paused
            case .running: .running
            }
            return ActionOutcome(
                status: status(of: entry, lastCheck: registry.lastHealthCheck), changed: changed, target: target,
                targetGeneration: lifecycle.restartsAfterRun ? lifecycle.generation + 1 : lifecycle.generation)
        }
    }

    // MARK: Member status

    /// Publishes this instance's view of every consumer (each health interval).
    func publishClusterStatus() {
        guard let membership = membership(), membership.log.statusDue(every: configuration.healthInterval) else { return }
        let members: [ClusterLog.MemberStatus] = list().map { status in
            ClusterLog.MemberStatus(
                instance: membership.instance, consumer: status.name, state: status.state.rawValue, generation: status.generation,
                assignment: status.partitions.map { MemberPartition(topic: $0.topic, partition: $0.partition, lag: $0.lag) },
                updatedAt: Date())
        }
        let heartbeat = ClusterLog.MemberStatus(
            instance: membership.instance, consumer: "", state: "alive", generation: 0, assignment: [], updatedAt: Date())
        membership.log.publishStatus(members + [heartbeat])
    }

    /// Every member's view of a consumer (empty outside cluster mode).
    func clusterMembers(of name: String) -> [ClusterMember] {
        guard let membership = membership() else { return [] }
        let freshness = configuration.healthInterval * Self.memberFreshnessIntervals
        return membership.log.members(of: name, freshness: freshness).map { member in
            ClusterMember(
                instance: member.instance, state: member.state, generation: member.generation,
                partitions: member.assignment, updatedAt: member.updatedAt)
        }
    }

    public var clusterView: ClusterView? {
        guard let membership = membership() else { return nil }
        let freshness = configuration.healthInterval * Self.memberFreshnessIntervals
        let heard = membership.log.instances(freshness: freshness)
        return ClusterView(
            id: membership.log.settings.clusterID, instance: membership.instance,
            instances: Array(Set(heard + [membership.instance])).sorted())
    }
}
