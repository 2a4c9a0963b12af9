import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The slow-client defence. libmicrohttpd's connection timeout counts
/// idleness, so a client that sends one byte a second (slowloris) or a body
/// that never ends would hold its connection forever. Each connection gets a
/// deadline to deliver a whole request, counted from when it connected or
/// its previous answer was sent; a connection past it is shut down (the
/// pool's threads then close it as if the client had hung up).
final class RequestDeadlines: Sendable {
    private struct Connection {
        let socket: Int32
        /// When the request being received began; nil while a handler runs.
        var receivingSince: ContinuousClock.Instant?
    }

    let limit: Duration
    /// Keyed by the connection's address. An entry goes away (under the
    /// lock) before libmicrohttpd closes the socket, so a socket number is
    /// never shut down after it was reused.
    private let connections = Mutex<[UInt: Connection]>([:])

    init(limit: Duration) {
        self.limit = limit
    }

    private static func key(_ connection: OpaquePointer) -> UInt { UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(connection))) }

    func opened(_ connection: OpaquePointer, socket: Int32) {
        connections.withLock { $0[Self.key(connection)] = Connection(socket: socket, receivingSince: .now) }
    }

    /// The whole request (head and body) is in: its handler runs now.
    func received(_ connection: OpaquePointer) {
        connections.withLock { $0[Self.key(connection)]?.receivingSince = nil }
    }

    /// Answered; on a kept-alive connection the next request's clock starts.
    func answered(_ connection: OpaquePointer) {
        connections.withLock { $0[Self.key(connection)]?.receivingSince = .now }
    }

    func closed(_ connection: OpaquePointer) {
        _ = connections.withLock { $0.removeValue(forKey: Self.key(connection)) }
    }

    /// Shuts down every connection past its deadline; returns how many.
    @discardableResult
    func enforce(now: ContinuousClock.Instant = .now) -> Int {
        connections.withLock { connections in
            var expired = 0
            for (key, connection) in connections {
                guard let since = connection.receivingSince, now - since > limit else { continue }
                shutdown(connection.socket, Int32(SHUT_RDWR))
                // Once: the pool thread closes it and reports it closed.
                connections[key]?.receivingSince = nil
                expired += 1
            }
            return expired
        }
    }
}
