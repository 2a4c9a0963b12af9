import ArgumentParser
import ConsumerManager
import ControlPlane
import Dispatch
import Foundation
import HTTPClient
import HTTPServer
import Kafka
import Logging
import Prometheus
import ServiceLifecycle

/// `consumerd serve`: the control plane, the consumer manager and, with
/// `--dev`, an embedded Kafka cluster with a live demo.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the consumer manager and its REST API.")

    @Option(help: "Address for the REST API, HOST:PORT (port 0 picks a free port).")
    var listen = "127.0.0.1:8080"

    @Option(help: "Directory for consumer specs (consumers/) and file sink output (sinks/).")
    var dataDir = "./data"

    @Option(help: "Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS).")
    var bootstrapServers: String?

    @OptionGroup var kafka: KafkaClientOptions

    @OptionGroup var security: SecurityOptions

    @OptionGroup var cluster: ClusterOptions

    @Flag(help: "Start an embedded Kafka cluster and Schema Registry, a demo Avro trade producer and a demo consumer.")
    var dev = false

    @Option(help: "Demo trades produced per second with --dev.")
    var demoRate = 20

    @Option(help: "Most consumers that can be registered.")
    var maxConsumers = 256

    @Option(help: "HTTP worker threads.")
    var httpThreads = 4

    @Option(help: "Largest accepted request body, in bytes.")
    var maxBodyBytes = 1 << 20

    @Option(help: "Seconds a client has to send a whole request; slower ones are disconnected.")
    var httpRequestTimeout = 15

    @Option(help: "Connections one client address may hold open.")
    var httpConnectionsPerClient = 64

    @Option(help: ArgumentHelp(
        "Nice value (0-19) of the threads that move records: consumers, sink writers, librdkafka's. Above 0 the API and the probes answer promptly while consumers run flat out; 0 leaves them all equal.",
        valueName: "n"))
    var dataPathNice: Int32 = 10

    @Option(help: "Seconds between health checks.")
    var healthInterval = 5

    @Option(help: "Seconds to let consumers drain on shutdown.")
    var shutdownTimeout = 30

    @Option(help: ArgumentHelp(
        "POST a JSON event here on every consumer state or health change (consumers may add their own: alerts.webhook).",
        valueName: "url"))
    var alertWebhook: String?

    @Option(help: ArgumentHelp(
        "Consumer specs kept in a JSON or YAML file or a directory of them: applied at start and on SIGHUP, like `ctl apply`.",
        valueName: "path"))
    var specs: String?

    @Flag(help: "With --specs: delete registered consumers the spec files do not list.")
    var pruneSpecs = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...65536).contains(maxConsumers) else { throw ValidationError("--max-consumers must be between 1 and 65536") }
        guard (1...64).contains(httpThreads) else { throw ValidationError("--http-threads must be between 1 and 64") }
        guard (1024...(64 << 20)).contains(maxBodyBytes) else { throw ValidationError("--max-body-bytes must be between 1 KiB and 64 MiB") }
        guard (1...600).contains(httpRequestTimeout) else { throw ValidationError("--http-request-timeout must be between 1 and 600") }
        guard (1...1024).contains(httpConnectionsPerClient) else {
            throw ValidationError("--http-connections-per-client must be between 1 and 1024")
        }
        guard (0...19).contains(dataPathNice) else { throw ValidationError("--data-path-nice must be between 0 and 19") }
        guard (1...3600).contains(healthInterval) else { throw ValidationError("--health-interval must be between 1 and 3600") }
        guard (1...3600).contains(shutdownTimeout) else { throw ValidationError("--shutdown-timeout must be between 1 and 3600") }
        guard (1...10_000).contains(demoRate) else { throw ValidationError("--demo-rate must be between 1 and 10000") }
        if let alertWebhook, !HTTPClient.isAcceptable(alertWebhook, maxBytes: 2048) {
            throw ValidationError("--alert-webhook must be an http:// or https:// URL")
        }
        _ = try ListenAddress(listen)
        _ = try kafka.resolved()
        if pruneSpecs, specs == nil { throw ValidationError("--prune-specs needs --specs") }
    }

    func run() async throws {
        logging.bootstrap()
        signal(SIGPIPE, SIG_IGN)
        let logger = Logger(label: "consumerd")
        let dataDirectory = URL(fileURLWithPath: dataDir).standardizedFileURL.path
        let address = try ListenAddress(listen)
        let tokens = try security.tokens()
        try security.checkExposure(host: address.host, tokens: tokens)
        let tls = try security.tlsIdentity()
        let lock = try DataDirectoryLock(directory: dataDirectory)
        // Before any Kafka client or consumer thread exists.
        DataPathPriority.nice = dataPathNice

        var embeddedCluster: EmbeddedCluster?
        let bootstrap: String
        if dev {
            let embedded = try EmbeddedCluster(brokers: 1, logger: Logger(label: "consumerd.dev-cluster"))
            try? embedded.createTopic(DevDemo.topic, partitions: 3)
            embeddedCluster = embedded
            bootstrap = embedded.bootstrapServers
            logger.info("embedded Kafka cluster started", metadata: ["bootstrap_servers": "\(bootstrap)"])
        } else if let configured = bootstrapServers ?? ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"], !configured.isEmpty {
            bootstrap = configured
        } else {
            throw ValidationError("set --bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS, or use --dev for an embedded cluster")
        }

        let registry = PrometheusCollectorRegistry()
        registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "consumerd", metricName: "build_info", unitName: "",
                helpText: "Always 1; labels carry the consumerd and librdkafka versions."),
            labels: [("version", Consumerd.version), ("librdkafka", KafkaVersion.string)]
        ).set(Int64(1))

        var managerConfiguration = ConsumerManager.Configuration(
            dataDirectory: dataDirectory,
            kafka: KafkaConfig(["bootstrap.servers": bootstrap]).merging(try kafka.resolved()))
        managerConfiguration.maxConsumers = maxConsumers
        managerConfiguration.healthInterval = .seconds(healthInterval)
        managerConfiguration.shutdownTimeout = .seconds(shutdownTimeout)
        managerConfiguration.alertWebhook = alertWebhook
        if dev {
            // An empty fetch on the embedded cluster waits fetch.wait.max.ms; keep the demo snappy.
            managerConfiguration.kafka["fetch.wait.max.ms"] = "100"
            // The embedded cluster keeps a group rebalancing for the session
            // timeout after its last member left, so a consumer stopped and
            // started again waits that long for partitions (real brokers do
            // not); a short session keeps that wait short.
            managerConfiguration.kafka["session.timeout.ms"] = "6000"
        }
        let manager = try ConsumerManager(
            configuration: managerConfiguration, metrics: ConsumerMetrics(registry: registry),
            logger: Logger(label: "consumerd.manager"))
        if let settings = try cluster.settings(defaultInstance: managerConfiguration.instanceID) {
            do {
                try manager.joinCluster(settings)
            } catch {
                throw CommandFailure(description: "--cluster-id \(settings.clusterID): \(error.message)")
            }
        } else {
            manager.restore()
        }
        var specReload: (any DispatchSourceSignal)?
        if let specs {
            let declarative = DeclarativeSpecs(path: specs, prune: pruneSpecs, manager: manager, logger: logger)
            let failures = declarative.reconcile()
            guard failures.isEmpty else {
                // Consumers restored from the data directory may be running: drain them first.
                _ = await manager.shutdown()
                throw CommandFailure(description: "--specs \(specs): " + failures.joined(separator: "; "))
            }
            specReload = declarative.reloadOnSIGHUP()
        }
        var devRegistry: DevSchemaRegistry?
        if dev {
            let registry = try DevSchemaRegistry(logger: Logger(label: "consumerd.dev-registry"))
            logger.info("embedded schema registry started", metadata: ["url": "\(registry.url)"])
            DevDemo.registerConsumer(in: manager, registryURL: registry.url, logger: logger)
            devRegistry = registry
        }

        var securityConfiguration = ControlPlane.Security()
        securityConfiguration.tokens = tokens
        securityConfiguration.metricsRequireToken = security.metricsAuth
        let controlPlane = ControlPlane(
            manager: manager, registry: registry, logger: Logger(label: "consumerd.http"), security: securityConfiguration)
        var httpConfiguration = HTTPServer.Configuration()
        httpConfiguration.host = address.host
        httpConfiguration.port = address.port
        httpConfiguration.threadPoolSize = httpThreads
        httpConfiguration.maxBodyBytes = maxBodyBytes
        httpConfiguration.tls = tls
        httpConfiguration.requestReceiveTimeout = .seconds(httpRequestTimeout)
        httpConfiguration.perIPConnectionLimit = httpConnectionsPerClient
        let server = HTTPServer(
            configuration: httpConfiguration, logger: Logger(label: "consumerd.http"),
            inlineResponder: { request in controlPlane.respondInline(request) }
        ) { request in
            await controlPlane.respond(request)
        }
        do {
            try server.start()
        } catch {
            throw CommandFailure(description: error.message)
        }

        // Graceful shutdown runs in reverse: consumers drain first, then the
        // API goes away, then the demo producer and the embedded cluster.
        var services: [any Service] = []
        if let embeddedCluster, let devRegistry {
            services.append(EmbeddedClusterService(cluster: embeddedCluster, registry: devRegistry))
            services.append(try DemoProducerService(
                bootstrap: bootstrap, registry: devRegistry, rate: demoRate, logger: Logger(label: "consumerd.demo")))
        }
        services.append(HTTPServerService(server: server))
        services.append(ConsumerManagerService(manager: manager))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        logger.info(
            "consumerd serving",
            metadata: [
                "listen": "\(address.host):\(server.port)", "data_dir": "\(dataDirectory)",
                "bootstrap_servers": "\(bootstrap)", "dev": "\(dev)",
                "api_tokens": "\(tokens.count)", "tls": "\(tls != nil)",
            ])
        let escalation = SignalEscalation(logger: logger)
        try await group.run()
        withExtendedLifetime((lock, escalation, specReload)) {}
        logger.info("consumerd stopped")
    }
}

/// `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces).
struct ListenAddress {
    var host: String
    var port: UInt16

    init(_ text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw ValidationError("--listen expects HOST:PORT, got '\(text)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }
}
