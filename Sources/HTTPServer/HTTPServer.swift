import CMicroHTTPD
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 server on libmicrohttpd's internal epoll thread pool.
///
/// Handlers are `async`: while one runs, its connection is suspended so the
/// pool's threads keep serving other clients (a slow `?wait=` never starves
/// `/health`). Bodies are buffered up to ``Configuration/maxBodyBytes``;
/// larger ones get 413 without being read.
public final class HTTPServer: Sendable {
    public struct Configuration: Sendable {
        /// An IPv4 or IPv6 literal, or `localhost`; `0.0.0.0` listens everywhere.
        public var host = "127.0.0.1"
        /// 0 binds an ephemeral port (see ``HTTPServer/port``).
        public var port: UInt16 = 8080
        public var threadPoolSize = 4
        public var connectionLimit = 256
        /// Connections one client address may hold, so that one slow or
        /// hostile client cannot take every slot.
        public var perIPConnectionLimit = 64
        /// Idle connections are closed after this long.
        public var connectionTimeout: Duration = .seconds(30)
        /// A client must deliver a whole request (head and body) within this,
        /// however steadily it trickles bytes (see ``RequestDeadlines``).
        public var requestReceiveTimeout: Duration = .seconds(15)
        public var maxBodyBytes = 1 << 20
        /// Per-connection memory for headers and buffers (bounds header size).
        /// libmicrohttpd keeps the request line, headers and every query
        /// parameter in it; when it runs out it may close without answering,
        /// so it is sized for ~1,000 parameters and the server refuses more
        /// than ``maxQueryParameters`` with a JSON error itself.
        public var connectionMemoryLimit = 128 << 10
        public var maxQueryParameters = 32
        /// How long ``HTTPServer/stop()`` waits for running handlers.
        public var shutdownGracePeriod: Duration = .seconds(10)
        /// Serve HTTPS with this certificate and key instead of plain HTTP.
        public var tls: TLSIdentity?

        public init() {}
    }

    /// Produces the response for a request; must not throw (map errors to responses).
    public typealias Responder = @Sendable (HTTPRequest) async -> HTTPResponse

    /// Answers a request on the libmicrohttpd thread that read it, or
    /// returns nil to leave it to the ``Responder`` (on a task, the
    /// connection suspended meanwhile). For cheap reads: a probe answered
    /// inline needs no task, and two thread wake-ups fewer.
    public typealias InlineResponder = @Sendable (HTTPRequest) -> HTTPResponse?

    public let configuration: Configuration
    private let responder: Responder
    private let inlineResponder: InlineResponder?
    fileprivate let deadlines: RequestDeadlines
    private let logger: Logger
    private let daemon = Mutex<DaemonState>(DaemonState())

    private struct DaemonState: @unchecked Sendable {
        var pointer: OpaquePointer?
        var port: UInt16 = 0
        var accepting = false
        /// Connections waiting for their handler. libmicrohttpd must never be
        /// stopped while one is suspended (it panics), and each is resumed
        /// exactly once: by its handler, or by `stop()` with a 503.
        var suspended: [ObjectIdentifier: Suspended] = [:]
        /// Enforces the request deadlines once a second while running.
        var deadlineWatch: Task<Void, Never>?
    }

    private struct Suspended {
        let pending: PendingRequest
        let connection: ConnectionHandle
    }

    public init(
        configuration: Configuration, logger: Logger, inlineResponder: InlineResponder? = nil, responder: @escaping Responder
    ) {
        self.configuration = configuration
        self.logger = logger
        self.inlineResponder = inlineResponder
        self.responder = responder
        self.deadlines = RequestDeadlines(limit: configuration.requestReceiveTimeout)
    }

    deinit {
        let (pointer, watch) = daemon.withLock { ($0.pointer, $0.deadlineWatch) }
        watch?.cancel()
        if let pointer { MHD_stop_daemon(pointer) }
    }

    /// The bound port (useful with port 0), or 0 when not running.
    public var port: UInt16 { daemon.withLock { $0.port } }

    /// Binds and starts serving. Throws when the address is invalid or taken.
    public func start() throws(HTTPError) {
        let address = try SocketAddress(host: configuration.host, port: configuration.port)
        let context = Unmanaged.passUnretained(self).toOpaque()
        let limits = cmhd_limits(
            thread_pool_size: UInt32(clamping: configuration.threadPoolSize),
            connection_limit: UInt32(clamping: configuration.connectionLimit),
            per_ip_connection_limit: UInt32(clamping: configuration.perIPConnectionLimit),
            connection_timeout_seconds: UInt32(clamping: max(1, configuration.connectionTimeout.components.seconds)),
            connection_memory_limit: configuration.connectionMemoryLimit)
        // libmicrohttpd copies the PEM text while starting.
        let pointer = address.withSockaddr { sockaddr in
            withOptionalCString(configuration.tls?.certificatePEM) { certificate in
                withOptionalCString(configuration.tls?.keyPEM) { key in
                    cmhd_start_daemon(
                        sockaddr, address.isIPv6 ? 1 : 0, accessHandler, completionHandler, connectionHandler, context, limits,
                        certificate, key)
                }
            }
        }
        guard let pointer else {
            throw HTTPError(
                status: 500, code: "listen_failed",
                message: "cannot listen on \(configuration.host):\(configuration.port) (address in use or not permitted)")
        }
        let port = cmhd_bound_port(pointer)
        let watch = Task { [deadlines, logger] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let expired = deadlines.enforce()
                if expired > 0 {
                    logger.warning(
                        "closed connections that did not deliver a request in time",
                        metadata: ["count": "\(expired)", "limit": "\(deadlines.limit)"])
                }
            }
        }
        daemon.withLock { state in
            state = DaemonState(pointer: pointer, port: port, accepting: true, deadlineWatch: watch)
        }
        logger.info(
            "http server listening",
            metadata: ["address": "\(configuration.host):\(port)", "tls": "\(configuration.tls != nil)"])
    }

    /// Stops accepting, lets running handlers finish (up to the grace period),
    /// answers any still waiting with 503, then closes every connection.
    public func stop() async {
        let listenSocket: Int32? = daemon.withLock { state in
            guard let pointer = state.pointer, state.accepting else { return nil }
            state.accepting = false
            return Int32(MHD_quiesce_daemon(pointer))
        }
        // nil: never started, or another stop() is already under way.
        guard let listenSocket else { return }
        let deadline = ContinuousClock.now + configuration.shutdownGracePeriod
        while !daemon.withLock({ $0.suspended.isEmpty }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        // Resuming under the lock and clearing the pointer means no handler
        // finishing later touches a connection MHD_stop_daemon frees.
        let unfinished: [PendingRequest] = daemon.withLock { state in
            defer { state.suspended.removeAll() }
            return state.suspended.values.map { waiting in
                waiting.pending.setResponse(HTTPError.unavailable.response)
                MHD_resume_connection(waiting.connection.pointer)
                return waiting.pending
            }
        }
        if !unfinished.isEmpty {
            logger.warning("answering unfinished requests with 503", metadata: ["count": "\(unfinished.count)"])
            // Let the pool threads send those answers before the sockets close.
            let answered = ContinuousClock.now + .seconds(1)
            while unfinished.contains(where: { !$0.isCompleted }), ContinuousClock.now < answered {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        // Clearing the pointer under the lock means no handler finishing
        // later touches a connection MHD_stop_daemon frees.
        let pointer: OpaquePointer? = daemon.withLock { state in
            defer { state.pointer = nil; state.port = 0 }
            state.deadlineWatch?.cancel()
            return state.pointer
        }
        if let pointer { MHD_stop_daemon(pointer) }
        if listenSocket >= 0 { Glibc.close(listenSocket) }
        logger.info("http server stopped")
    }

    // MARK: libmicrohttpd callbacks

    fileprivate func logLibraryMessage(_ message: String) {
        logger.notice("libmicrohttpd: \(message)")
    }

    fileprivate func handle(
        _ connection: OpaquePointer, url: String, method: String,
        upload: UnsafePointer<CChar>?, uploadSize: UnsafeMutablePointer<Int>,
        slot: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    ) -> MHD_Result {
        guard let existing = slot.pointee else {
            // First call: headers are complete, the body has not been read.
            let pending = PendingRequest(
                method: HTTPMethod(method), path: url,
                headers: connectionValues(connection, MHD_ValueKind.HEADER_KIND, lowercased: true),
                query: connectionValues(connection, MHD_ValueKind.GET_ARGUMENT_KIND, lowercased: false))
            slot.pointee = Unmanaged.passRetained(pending).toOpaque()
            // Moderately oversized bodies are read and discarded so that
            // clients that send the whole body before reading still see the
            // 413; huge ones are refused at once and the connection closed.
            if let length = pending.headers["content-length"].flatMap(Int.init),
                length > configuration.maxBodyBytes.multipliedReportingOverflow(by: 16).partialValue
            {
                return queue(HTTPError.payloadTooLarge(limit: configuration.maxBodyBytes).response, on: connection)
            }
            if pending.query.count > configuration.maxQueryParameters {
                return queue(
                    HTTPError.badRequest(
                        "at most \(configuration.maxQueryParameters) query parameters", code: "invalid_parameter"
                    ).response, on: connection)
            }
            // The decoder left these encoded (see cmhd_unescape in shim.h).
            if Self.containsEncodedNULOrSlash(url) {
                return queue(
                    HTTPError.badRequest("the path contains an encoded NUL or slash", code: "invalid_path").response, on: connection)
            }
            return MHD_Result.YES
        }
        let pending = Unmanaged<PendingRequest>.fromOpaque(existing).takeUnretainedValue()
        if uploadSize.pointee > 0 {
            pending.appendBody(upload, count: uploadSize.pointee, limit: configuration.maxBodyBytes)
            uploadSize.pointee = 0
            return MHD_Result.YES
        }
        if let response = pending.takeResponse() {
            return queue(response, on: connection)
        }
        if pending.bodyTooLarge {
            return queue(HTTPError.payloadTooLarge(limit: configuration.maxBodyBytes).response, on: connection)
        }
        if let inlineResponder, daemon.withLock({ $0.accepting }), let response = inlineResponder(pending.request) {
            return queue(response, on: connection)
        }
        return dispatch(pending, connection)
    }

    private func dispatch(_ pending: PendingRequest, _ connection: OpaquePointer) -> MHD_Result {
        deadlines.received(connection)
        let handle = ConnectionHandle(pointer: connection)
        let id = ObjectIdentifier(pending)
        // Checking `accepting` and suspending under one lock: stop() either
        // sees this connection suspended or this request sees the server stopping.
        let accepted = daemon.withLock { state -> Bool in
            guard state.accepting else { return false }
            state.suspended[id] = Suspended(pending: pending, connection: handle)
            MHD_suspend_connection(connection)
            return true
        }
        guard accepted else { return queue(HTTPError.unavailable.response, on: connection) }
        let request = pending.request
        Task { [responder] in
            let response = await responder(request)
            self.daemon.withLock { state in
                guard state.pointer != nil, let waiting = state.suspended.removeValue(forKey: id) else { return }
                waiting.pending.setResponse(response)
                MHD_resume_connection(waiting.connection.pointer)
            }
        }
        return MHD_Result.YES
    }

    private func queue(_ response: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
        deadlines.received(connection)
        let mhdResponse = response.body.withUnsafeBytes { body in
            MHD_create_response_from_buffer(body.count, UnsafeMutableRawPointer(mutating: body.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let mhdResponse else { return MHD_Result.NO }
        defer { MHD_destroy_response(mhdResponse) }
        for header in response.headers {
            _ = MHD_add_response_header(mhdResponse, header.name, header.value)
        }
        return MHD_queue_response(connection, UInt32(response.status), mhdResponse)
    }

    /// `%00`, `%2f` or `%2F` in a path: a byte scan, since every request is
    /// checked (Foundation's `contains` was a twentieth of a cheap request's CPU).
    static func containsEncodedNULOrSlash(_ path: String) -> Bool {
        var path = path
        return path.withUTF8 { bytes in
            guard bytes.count >= 3 else { return false }
            for index in 0..<(bytes.count - 2) where bytes[index] == UInt8(ascii: "%") {
                let high = bytes[index + 1], low = bytes[index + 2]
                if high == UInt8(ascii: "0") && low == UInt8(ascii: "0") { return true }
                if high == UInt8(ascii: "2") && (low == UInt8(ascii: "f") || low == UInt8(ascii: "F")) { return true }
            }
            return false
        }
    }

    private func connectionValues(_ connection: OpaquePointer, _ kind: MHD_ValueKind, lowercased: Bool) -> [String: String] {
        let collector = ValueCollector(lowercased: lowercased)
        withExtendedLifetime(collector) {
            _ = MHD_get_connection_values(connection, kind, valueIterator, Unmanaged.passUnretained(collector).toOpaque())
        }
        return collector.values
    }
}

private func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let text else { return body(nil) }
    return text.withCString(body)
}

/// A connection pointer handed to the task that answers it; libmicrohttpd
/// keeps a suspended connection alive until it is resumed or the daemon stops.
private struct ConnectionHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Per-connection request state, owned through libmicrohttpd's `con_cls` slot.
/// Header and body fields are only touched by the pool thread serving the
/// connection; the response crosses threads under a lock.
private final class PendingRequest: @unchecked Sendable {
    let method: HTTPMethod
    let path: String
    let headers: [String: String]
    let query: [String: String]
    private(set) var body: [UInt8] = []
    private(set) var bodyTooLarge = false
    private let response = Mutex<HTTPResponse?>(nil)
    private let completed = Atomic<Bool>(false)

    init(method: HTTPMethod, path: String, headers: [String: String], query: [String: String]) {
        self.method = method
        self.path = path
        self.headers = headers
        self.query = query
    }

    var request: HTTPRequest {
        HTTPRequest(method: method, path: path, query: query, headers: headers, body: body)
    }

    func appendBody(_ bytes: UnsafePointer<CChar>?, count: Int, limit: Int) {
        guard !bodyTooLarge, let bytes else { return }
        if body.count + count > limit {
            bodyTooLarge = true
            body = []
            return
        }
        body.append(contentsOf: UnsafeRawBufferPointer(start: bytes, count: count))
    }

    func setResponse(_ value: HTTPResponse) { response.withLock { $0 = value } }
    /// libmicrohttpd has finished with the request (answered or closed).
    var isCompleted: Bool { completed.load(ordering: .acquiring) }
    func markCompleted() { completed.store(true, ordering: .releasing) }
    func takeResponse() -> HTTPResponse? { response.withLock { $0.take() } }
}

private final class ValueCollector {
    let lowercased: Bool
    var values: [String: String] = [:]
    init(lowercased: Bool) { self.lowercased = lowercased }
}

private let valueIterator: @convention(c) (UnsafeMutableRawPointer?, MHD_ValueKind, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> MHD_Result = {
    context, _, key, value in
    guard let context, let key else { return MHD_Result.YES }
    let collector = Unmanaged<ValueCollector>.fromOpaque(context).takeUnretainedValue()
    let name = String(cString: key)
    collector.values[collector.lowercased ? name.lowercased() : name] = value.map { String(cString: $0) } ?? ""
    return MHD_Result.YES
}

private let accessHandler: @convention(c) (
    UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
    UnsafePointer<CChar>?, UnsafeMutablePointer<Int>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result = { context, connection, url, method, _, upload, uploadSize, slot in
    guard let context, let connection, let url, let method, let uploadSize, let slot else { return MHD_Result.NO }
    let server = Unmanaged<HTTPServer>.fromOpaque(context).takeUnretainedValue()
    return server.handle(
        connection, url: String(cString: url), method: String(cString: method),
        upload: upload, uploadSize: uploadSize, slot: slot)
}

private let completionHandler: @convention(c) (
    UnsafeMutableRawPointer?, OpaquePointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, MHD_RequestTerminationCode
) -> Void = { context, connection, slot, _ in
    if let context, let connection {
        Unmanaged<HTTPServer>.fromOpaque(context).takeUnretainedValue().deadlines.answered(connection)
    }
    guard let slot, let pending = slot.pointee else { return }
    Unmanaged<PendingRequest>.fromOpaque(pending).takeUnretainedValue().markCompleted()
    Unmanaged<PendingRequest>.fromOpaque(pending).release()
    slot.pointee = nil
}

private let connectionHandler: @convention(c) (
    UnsafeMutableRawPointer?, OpaquePointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, MHD_ConnectionNotificationCode
) -> Void = { context, connection, _, event in
    guard let context, let connection else { return }
    let deadlines = Unmanaged<HTTPServer>.fromOpaque(context).takeUnretainedValue().deadlines
    switch event {
    case .CONNECTION_NOTIFY_STARTED:
        // On the worker thread that will serve the connection.
        ControlPlaneSlice.requestForCurrentThread()
        deadlines.opened(connection, socket: cmhd_connection_fd(connection))
    default:
        deadlines.closed(connection)
    }
}

/// libmicrohttpd's own messages, through swift-log (see shim.h).
@_cdecl("consumerd_http_log")
func consumerdHTTPLog(_ context: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?) {
    guard let context, let message else { return }
    Unmanaged<HTTPServer>.fromOpaque(context).takeUnretainedValue().logLibraryMessage(String(cString: message))
}
