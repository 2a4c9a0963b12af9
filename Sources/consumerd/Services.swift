import ConsumerManager
import Dispatch
import Foundation
import Logging
import Synchronization
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
/// consumer writes and commits its last batch and leaves its group. A drain
/// that does not finish within the shutdown timeout is an error, so the
/// process exits non-zero.
struct ConsumerManagerService: Service {
    let manager: ConsumerManager

    struct DrainTimedOut: Error, CustomStringConvertible {
        var timeout: Duration
        var description: String { "consumers did not finish draining within \(timeout); their last records will be read again" }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await manager.supervise()
        }
        guard await manager.shutdown() else { throw DrainTimedOut(timeout: manager.configuration.shutdownTimeout) }
    }
}

/// A second SIGTERM or SIGINT during a graceful drain ends the process at
/// once (exit 130), as an operator pressing Ctrl-C twice expects.
final class SignalEscalation {
    private let sources: [any DispatchSourceSignal]

    init(logger: Logger) {
        let received = Atomic<Int>(0)
        sources = [SIGTERM, SIGINT].map { signal in
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                if received.add(1, ordering: .relaxed).newValue >= 2 {
                    logger.warning("second signal: exiting without draining")
                    _exit(130)
                }
            }
            source.resume()
            return source
        }
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
