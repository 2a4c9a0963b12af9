import Foundation
import Kafka
import Logging
import Pipeline
import Sinks
import Synchronization

/// Registers, persists, runs and supervises consumers.
///
/// Thread-safe: REST handlers call it concurrently. State lives in one
/// registry behind one lock; nothing blocking happens under it (runtimes are
/// sent commands, never joined). Each consumer's lifecycle is a
/// ``ConsumerLifecycle`` state machine; the manager feeds it events and
/// carries out the effects it returns. Spec files are written under a
/// separate lock, always from the latest registry state.
public final class ConsumerManager: Sendable {
    public struct Configuration: Sendable {
        /// Holds `consumers/` (specs) and `sinks/` (file sink output).
        public var dataDirectory: String
        /// Base client properties for every consumer: `bootstrap.servers`
        /// plus anything the operator trusts (TLS files, SASL).
        public var kafka: KafkaConfig
        public var maxConsumers = 256
        /// How often health is evaluated and rates are sampled.
        public var healthInterval: Duration = .seconds(5)
        /// A loop that has not come round for this long is reported stalled.
        public var stallTimeout: Duration = .seconds(60)
        /// A supervisor that has not ticked for this long makes `/health/live` fail.
        public var supervisorStallTimeout: Duration = .seconds(10)
        /// A consumer retrying one transient error for longer than this is
        /// unhealthy rather than degraded.
        public var unhealthyAfter: Duration = .seconds(30)
        /// How long shutdown waits for consumers to drain.
        public var shutdownTimeout: Duration = .seconds(30)
        /// The lag monitor judges a group over this window (stalled, falling behind).
        public var lagWindow: Duration = .seconds(60)
        /// Refresh interval of lag and positions inside each consumer.
        public var progressInterval: Duration = .seconds(1)
        /// Receives every consumer's state and health changes (`--alert-webhook`).
        public var alertWebhook: String?

        public init(dataDirectory: String, kafka: KafkaConfig) {
            self.dataDirectory = dataDirectory
            self.kafka = kafka
        }

        public var specDirectory: String { "\(dataDirectory)/consumers" }
        public var sinkDirectory: String { "\(dataDirectory)/sinks" }

        /// consumerd's defaults, then the server-wide properties, then the
        /// spec's, then what consumerd must control.
        public func kafkaConfig(for spec: ConsumerSpec) -> KafkaConfig {
            KafkaConfig(Self.consumerDefaults)
                .merging(kafka.properties)
                .merging(spec.kafka)
                .merging([
                    "group.id": spec.groupID,
                    "client.id": "consumerd-\(spec.name)",
                    "enable.auto.commit": "false",
                    "enable.auto.offset.store": "false",
                    "enable.partition.eof": "false",
                    // Connection states for health (brokers reachable or not).
                    "statistics.interval.ms": "5000",
                ])
        }

        /// Where consumerd differs from librdkafka's defaults, and why.
        ///
        /// `queued.min.messages`: librdkafka (2.0) compares it with the length
        /// of the consumer's one shared queue, not a partition's, and stops
        /// fetching every partition once 100,000 records wait there; a
        /// consumer draining a backlog then stalls on fetch back-offs
        /// (measured: 119,000 → 208,000 records/s, `make bench`). The memory
        /// bound is the byte limit instead: `queued.max.messages.kbytes`,
        /// 64 MiB of prefetched records per consumer (spec-settable, capped).
        public static let consumerDefaults: [String: String] = [
            "auto.offset.reset": "earliest",
            "queued.min.messages": "1000000",
            "queued.max.messages.kbytes": "65536",
        ]

        /// The dead-letter producer: the server's properties and the spec's
        /// credentials (its consumer tuning does not apply to a producer).
        public func producerConfig(for spec: ConsumerSpec) -> KafkaConfig {
            kafka
                .merging(spec.kafka.filter { $0.key.hasPrefix("security.") || $0.key.hasPrefix("sasl.") })
                .merging(["client.id": "consumerd-\(spec.name)-dead-letters"])
        }

        /// This server, the same across its restarts: the host and its data
        /// directory (a Kafka sink's transactional id carries it).
        public var instanceID: String {
            var hash: UInt32 = 0x811c_9dc5
            for byte in dataDirectory.utf8 { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
            let host = ProcessInfo.processInfo.hostName.prefix { $0 != "." }
            return "\(host)-\(String(hash, radix: 16))"
        }

        /// What a consumer's sink gets from the server: where files go, the
        /// cluster, the consumer's identity and its record schema.
        public func sinkContext(for spec: ConsumerSpec, logger: Logger) -> SinkContext {
            SinkContext(
                consumer: spec.name, groupID: spec.groupID, instance: instanceID, sinkDirectory: sinkDirectory, kafka: kafka,
                records: spec.recordSchemas, logger: logger)
        }
    }

    public let configuration: Configuration
    let metrics: ConsumerMetrics
    let logger: Logger
    let store: SpecStore
    /// Schema Registry clients and caches, shared by every consumer.
    let decoderServices = DecoderServices()
    /// Topic metadata, watermarks and group offsets; `nil` when no admin client could be made.
    let admin: KafkaAdmin?
    /// Each group watched from outside (Burrow's rules).
    let lagMonitor: GroupLagMonitor?
    /// Posts state and health changes to the server's and the consumers' webhooks.
    let alerts: AlertNotifier
    let registry = Mutex<Registry>(Registry())
    /// Consumers whose dead letters are being redriven.
    let redrivesUnderWay = Mutex<Set<String>>([])
    /// Set in cluster mode (``joinCluster(_:)``): the registry is the config topic.
    let cluster = Mutex<ClusterMembership?>(nil)
    private let persistLock = Mutex<Void>(())

    struct Registry {
        var entries: [String: Entry] = [:]
        var shuttingDown = false
        var lastHealthCheck: Date?
        var lastSupervisorTick = ContinuousClock.now
    }

    /// One registered consumer.
    struct Entry {
        var spec: ConsumerSpec
        var lifecycle: ConsumerLifecycle
        /// The current run, or the last one (its snapshot keeps the final state).
        var runtime: ConsumerRuntime?
        var lastFailure: ConsumerFailure?
        /// Counters of the runs that have ended (status shows them added to the current run's).
        var endedRuns = RuntimeStats()
        var health = HealthSample()
        /// Applied by the next run (``PendingOffsetReset``).
        var pendingReset: PendingOffsetReset?
        /// Dead letters already sent back.
        var redriven = RedriveLedger()
        let registeredAt = Date()

        init(spec: ConsumerSpec, desired: DesiredState) {
            self.spec = spec
            self.lifecycle = ConsumerLifecycle(desired: desired)
        }

        var isActive: Bool { lifecycle.hasRun }
        var desired: DesiredState { lifecycle.desired }
        var deleting: Bool { lifecycle.isDeleting }
    }

    struct HealthSample {
        var consumed: Int64 = 0
        var written: Int64 = 0
        var generation = 0
        var at: ContinuousClock.Instant?
        var rates = Rates()
    }

    public init(configuration: Configuration, metrics: ConsumerMetrics, logger: Logger) throws(ConsumerManagerError) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        for directory in [configuration.dataDirectory, configuration.sinkDirectory]
        where mkdir(directory, 0o750) != 0 && errno != EEXIST {
            throw ConsumerManagerError(
                .persistence, "cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        self.store = try SpecStore(directory: configuration.specDirectory)
        self.admin = try? KafkaAdmin(config: configuration.kafka, logger: logger)
        self.lagMonitor = admin.map {
            GroupLagMonitor(
                admin: $0, config: configuration.kafka, window: configuration.lagWindow, interval: configuration.healthInterval,
                logger: logger)
        }
        self.alerts = AlertNotifier(serverWebhook: configuration.alertWebhook, registry: metrics.registry, logger: logger)
    }

    // MARK: Registry

    /// What ``restore()`` found: the consumers it loaded, and a message per
    /// spec file it skipped (naming the file and what is wrong with it).
    public struct RestoreReport: Sendable {
        public var restored: [String]
        public var skipped: [String]
    }

    /// Loads persisted consumers and starts those that were running or
    /// paused. A file that cannot be read or is no longer valid is skipped
    /// (and logged); the others load.
    @discardableResult
    public func restore() -> RestoreReport {
        let (stored, problems) = store.loadAll()
        for problem in problems {
            logger.error("skipping an unreadable consumer spec", metadata: ["problem": "\(problem)"])
        }
        registry.withLock { registry in
            for item in stored {
                var entry = Entry(spec: item.spec, desired: .stopped)
                entry.pendingReset = item.offsetReset
                entry.redriven = item.redriven ?? RedriveLedger()
                switch item.desiredState {
                case .stopped: break
                case .running: apply(try? entry.lifecycle.start(runStopping: false), to: &entry)
                case .paused:
                    apply(try? entry.lifecycle.start(runStopping: false), to: &entry)
                    apply(try? entry.lifecycle.pause(runStopping: false), to: &entry)
                }
                registry.entries[item.spec.name] = entry
            }
        }
        logger.info("restored consumers", metadata: ["count": "\(stored.count)", "skipped": "\(problems.count)"])
        return RestoreReport(restored: stored.map(\.spec.name), skipped: problems)
    }

    public var names: [String] { registry.withLock { $0.entries.keys.sorted() } }

    public func list() -> [ConsumerStatus] {
        registry.withLock { registry in
            registry.entries.values.map { status(of: $0, lastCheck: registry.lastHealthCheck) }
        }.sorted { $0.name < $1.name }
    }

    public func status(_ name: String) throws(ConsumerManagerError) -> ConsumerStatus {
        let found = registry.withLock { registry -> ConsumerStatus? in
            guard let entry = registry.entries[name] else { return nil }
            return self.status(of: entry, lastCheck: registry.lastHealthCheck)
        }
        guard var found else { throw .notFound(name) }
        found.members = clusterMembers(of: name)
        return found
    }

    /// Registers a new consumer; starts it when `autostart` is set.
    public func create(_ spec: ConsumerSpec) throws(ConsumerManagerError) -> ConsumerStatus {
        if let membership = try syncedMembership() { return try clusterCreate(spec, membership) }
        try spec.validate()
        try checkClientConfiguration(of: spec)
        let result: Result<Void, ConsumerManagerError> = registry.withLock { registry in
            if registry.shuttingDown { return .failure(.shuttingDown) }
            if registry.entries[spec.name] != nil {
                return .failure(ConsumerManagerError(.alreadyExists, "a consumer named '\(spec.name)' already exists", field: "name"))
            }
            if registry.entries.count >= configuration.maxConsumers {
                return .failure(ConsumerManagerError(.limitExceeded, "at most \(configuration.maxConsumers) consumers can be registered"))
            }
            if let conflict = sinkConflict(for: spec, in: registry) { return .failure(conflict) }
            registry.entries[spec.name] = Entry(spec: spec, desired: spec.autostart ? .running : .stopped)
            return .success(())
        }
        try result.get()
        do {
            try persist(spec.name)
        } catch {
            registry.withLock { _ = $0.entries.removeValue(forKey: spec.name) }
            throw error
        }
        if spec.autostart {
            registry.withLock { registry in
                guard var entry = registry.entries[spec.name], !entry.isActive, !registry.shuttingDown else { return }
                apply(try? entry.lifecycle.start(runStopping: false), to: &entry)
                registry.entries[spec.name] = entry
            }
        }
        logger.info("consumer registered", metadata: ["consumer": "\(spec.name)", "autostart": "\(spec.autostart)"])
        return try status(spec.name)
    }

    /// Creates or replaces a consumer's spec. A running consumer restarts
    /// with the new spec; its desired state is kept.
    public func replace(_ name: String, with proposed: ConsumerSpec) throws(ConsumerManagerError) -> (status: ConsumerStatus, created: Bool) {
        guard proposed.name == name else {
            throw .invalid("name", "'\(proposed.name)' does not match the consumer in the path ('\(name)')")
        }
        let existing = registry.withLock { $0.entries[name]?.spec }
        guard let existing else { return (try create(proposed), true) }
        let spec = proposed.restoringSecrets(from: existing)
        if let membership = try syncedMembership() {
            if try clusterReplace(name, with: spec, membership) { logger.info("consumer spec replaced", metadata: ["consumer": "\(name)"]) }
            return (try status(name), false)
        }
        try spec.validate()
        try checkClientConfiguration(of: spec)
        let result: Result<Bool, ConsumerManagerError> = registry.withLock { registry in
            guard var entry = registry.entries[name] else { return .failure(.notFound(name)) }
            if entry.deleting { return .failure(ConsumerManagerError(.conflict, "'\(name)' is being deleted")) }
            if registry.shuttingDown { return .failure(.shuttingDown) }
            if let conflict = sinkConflict(for: spec, in: registry) { return .failure(conflict) }
            guard entry.spec != spec else { return .success(false) }
            entry.spec = spec
            // A consumer on its way to stopped stays stopped; the new spec
            // applies at its next start.
            apply(entry.lifecycle.specChanged(), to: &entry)
            registry.entries[name] = entry
            return .success(true)
        }
        if try result.get() {
            try persist(name)
            logger.info("consumer spec replaced", metadata: ["consumer": "\(name)"])
        }
        return (try status(name), false)
    }

    public enum DeleteOutcome: Sendable {
        /// Gone from the registry and the data directory.
        case removed
        /// Stopping; it disappears once its run has ended.
        case stopping(ConsumerStatus)
    }

    /// Deletes a consumer: its spec file at once, its registration once it
    /// has stopped (gracefully: the last batch is written and committed).
    public func delete(_ name: String) throws(ConsumerManagerError) -> DeleteOutcome {
        if let membership = try syncedMembership() { return try clusterDelete(name, membership) }
        // The status of a draining consumer is taken under the same lock:
        // its run may end, and remove it, right after.
        let outcome: DeleteOutcome? = registry.withLock { registry in
            guard var entry = registry.entries[name] else { return nil }
            let effects = entry.lifecycle.delete()
            if effects.contains(.remove) {
                registry.entries.removeValue(forKey: name)
                return .removed
            }
            apply(effects, to: &entry)
            registry.entries[name] = entry
            return .stopping(status(of: entry, lastCheck: registry.lastHealthCheck))
        }
        guard let outcome else { throw .notFound(name) }
        try persist(name)
        let draining = if case .stopping = outcome { true } else { false }
        logger.info("consumer deleted", metadata: ["consumer": "\(name)", "draining": "\(draining)"])
        if !draining { metrics.remove(consumer: name) }
        return outcome
    }

    /// Waits until a deleted consumer has left the registry.
    public func waitUntilRemoved(_ name: String, timeout: Duration) async throws(ConsumerManagerError) {
        guard await poll(for: timeout, until: { registry.withLock { $0.entries[name] == nil } }) else {
            throw ConsumerManagerError(.waitTimeout, "'\(name)' is still stopping after \(timeout)")
        }
    }

    /// Checks `condition` every 50 ms for up to `timeout`; whether it came true.
    func poll(for timeout: Duration, until condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    // MARK: Effects (registry lock held)

    /// Carries out what a lifecycle transition asks for. A `.remove` effect
    /// is handled by the caller, which owns the registry entry.
    func apply(_ effects: [ConsumerLifecycle.Effect]?, to entry: inout Entry) {
        for effect in effects ?? [] {
            switch effect {
            case .launch(let paused):
                launch(&entry, paused: paused)
            case .send(let command):
                entry.runtime?.send(command)
            case .countRestart(let reason):
                entry.lifecycle.countRestart()
                metrics.instruments(for: entry.spec.name).restarts(reason: reason.rawValue).increment()
            case .remove:
                break
            }
        }
    }

    /// Starts the lifecycle's new run.
    private func launch(_ entry: inout Entry, paused: Bool) {
        let spec = entry.spec
        let settings = ConsumerRuntime.RunSettings(
            kafka: kafkaConfig(for: spec),
            sinkContext: sinkContext(for: spec),
            instruments: metrics.instruments(for: spec.name),
            logger: logger,
            producerKafka: configuration.producerConfig(for: spec),
            decoderServices: decoderServices,
            refreshInterval: configuration.progressInterval,
            offsetReset: entry.pendingReset,
            onOffsetReset: { [weak self, generation = entry.lifecycle.generation, name = spec.name] partitions in
                self?.offsetResetApplied(name, generation: generation, partitions: partitions)
            },
            onExit: { [weak self] runtime in self?.runtimeExited(runtime) })
        let runtime = ConsumerRuntime(spec: spec, generation: entry.lifecycle.generation, settings: settings, paused: paused)
        entry.runtime = runtime
        runtime.start()
    }

    func kafkaConfig(for spec: ConsumerSpec) -> KafkaConfig { configuration.kafkaConfig(for: spec) }

    /// The spec property librdkafka's message is about: the one it mentions
    /// first, or for SASL complaints (an unsupported mechanism, Kerberos
    /// settings it lacks) the mechanism that asked for them.
    static func propertyBlamed(by message: String, among properties: some Collection<String>) -> String? {
        let mentioned = properties
            .compactMap { name in message.range(of: name).map { (name, $0.lowerBound) } }
            .min { $0.1 < $1.1 }?.0
        if let mentioned { return mentioned }
        guard message.lowercased().contains("sasl") else { return nil }
        return ["sasl.mechanism", "sasl.mechanisms"].first { properties.contains($0) }
    }

    /// A spec whose client could never start is refused at registration,
    /// not left to crash-loop (and take readiness down) later. The error
    /// names the spec's property librdkafka complained about, if it can.
    func checkClientConfiguration(of spec: ConsumerSpec) throws(ConsumerManagerError) {
        do {
            try kafkaConfig(for: spec).checkAsConsumer()
        } catch {
            throw .invalid(
                Self.propertyBlamed(by: error.message, among: spec.kafka.keys).map { "kafka.\($0)" } ?? "kafka",
                "librdkafka refuses this configuration: \(error.message)")
        }
    }
    func sinkContext(for spec: ConsumerSpec) -> SinkContext { configuration.sinkContext(for: spec, logger: logger) }

    /// Another consumer owns the file: by its spec, or because a run that
    /// started before a spec change still writes to it.
    /// Two consumers may not write one target their sink says is exclusive (a file).
    func sinkConflict(for spec: ConsumerSpec, in registry: Registry) -> ConsumerManagerError? {
        guard let key = spec.sink.conflictKey(in: sinkContext(for: spec)) else { return nil }
        for (name, entry) in registry.entries where name != spec.name {
            var keys = [entry.spec.sink.conflictKey(in: sinkContext(for: entry.spec))]
            if entry.isActive, let running = entry.runtime?.spec { keys.append(running.sink.conflictKey(in: sinkContext(for: running))) }
            if keys.contains(where: { $0.map { spec.sink.keysCollide(key, $0) } ?? false }) {
                return ConsumerManagerError(.conflict, "consumer '\(name)' already writes to \(key)", field: spec.sink.conflictField)
            }
        }
        return nil
    }

    func status(of entry: Entry, lastCheck: Date?) -> ConsumerStatus {
        let snapshot = entry.runtime?.snapshot
        let current = snapshot?.progress.stats ?? RuntimeStats()
        let lastError = snapshot?.lastError ?? entry.lastFailure
        // Resolved: a batch went through after it, and nothing is being retried.
        let resolved = lastError.map { error in
            (current.lastBatchAt.map { $0 > error.at } ?? false) && snapshot?.progress.retrying == nil
        } ?? false
        let state: ConsumerState = switch entry.lifecycle.phase {
        // A run told to stop for a restart (a new spec, POST restart) is on
        // its way out, whatever it last reported.
        case .active where entry.lifecycle.restartsAfterRun && snapshot?.state.isActive == true: .stopping
        case .active: snapshot?.state ?? .starting
        case .failed, .backingOff: .failed
        case .idle: snapshot?.state == .failed ? .failed : .stopped
        }
        return ConsumerStatus(
            name: entry.spec.name,
            state: state,
            desiredState: entry.desired,
            since: snapshot?.since ?? entry.registeredAt,
            generation: entry.lifecycle.generation,
            spec: entry.spec.redacted,
            sinkTarget: entry.spec.sink.target(in: sinkContext(for: entry.spec)),
            progress: snapshot?.progress ?? RuntimeProgress(),
            totals: entry.endedRuns + current,
            rates: entry.health.rates,
            lastError: lastError,
            lastErrorResolved: resolved,
            consecutiveFailures: entry.lifecycle.consecutiveFailures,
            restarts: entry.lifecycle.restarts,
            nextRestartAt: entry.lifecycle.restartDue.map { Date().addingTimeInterval(($0 - .now).timeInterval) },
            deleting: entry.deleting,
            groupLag: lagMonitor?.report(for: entry.spec.name),
            health: evaluateHealth(entry, snapshot: snapshot, lastCheck: lastCheck))
    }

    // MARK: Persistence

    /// Writes (or removes) a consumer's file from the registry's current
    /// state. Serialised, and reading the state inside the lock means the
    /// last write always reflects the latest change.
    func persist(_ name: String) throws(ConsumerManagerError) {
        // In cluster mode the config topic holds the registry; what is only
        // this instance's (a pending offset reset) is not kept.
        guard !isClustered else { return }
        try persistLock.withLock { _ throws(ConsumerManagerError) in
            let entry = registry.withLock { registry -> SpecStore.Entry? in
                guard let entry = registry.entries[name], !entry.deleting else { return nil }
                return SpecStore.Entry(spec: entry.spec, desiredState: entry.desired, offsetReset: entry.pendingReset,
                    redriven: entry.redriven.isEmpty ? nil : entry.redriven)
            }
            if let entry {
                try store.save(entry)
            } else {
                try store.delete(name)
            }
        }
    }
}
