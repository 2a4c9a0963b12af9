import ConsumerManager
import HTTPServer
import Kafka
import ServiceLifecycle

/// Serves HTTP until graceful shutdown, then lets running handlers finish.
struct HTTPServerService: Service {
    let server: HTTPServer

    func run() async throws {
        try? await gracefulShutdown()
        await server.stop()
    }
}

/// Supervises consumers until graceful shutdown, then drains them: every
/// consumer writes and commits its last batch and leaves its group.
struct ConsumerManagerService: Service {
    let manager: ConsumerManager

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await manager.supervise()
        }
        await manager.shutdown()
    }
}

/// Keeps the embedded cluster and Schema Registry up until everything
/// above them has stopped.
struct EmbeddedClusterService: Service {
    let cluster: EmbeddedCluster
    var registry: DevSchemaRegistry?

    func run() async throws {
        try? await gracefulShutdown()
        await registry?.stop()
        withExtendedLifetime(cluster) {}
    }
}
