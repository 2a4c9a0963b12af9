import CHiredis
#if canImport(Glibc)
import Glibc
#endif

/// One hiredis connection, used by one thread. Commands are argument
/// vectors (binary-safe, never formatted strings); a pipeline sends many
/// commands before reading their replies.
final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?

    indirect enum Reply: Equatable {
        case string([UInt8])
        case status(String)
        case integer(Int64)
        case array([Reply])
        case null
        case error(String)

        var text: String? {
            switch self {
            case .string(let bytes): String(decoding: bytes, as: UTF8.self)
            case .status(let text): text
            case .integer(let value): String(value)
            default: nil
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var message: String
        /// The connection is gone: reconnect before the next command.
        var connectionLost: Bool
        var description: String { message }
    }

    /// Where to connect: `redis://[:password@]host[:port][/db]` or
    /// `unix:///path/to/redis.sock[?db=N]`.
    struct Address: Equatable {
        var host: String?
        var port: Int32
        var socketPath: String?
        var password: String?
        var database: Int

        init?(_ url: String) {
            database = 0
            password = nil
            if url.hasPrefix("unix://") {
                let rest = url.dropFirst("unix://".count)
                let parts = rest.split(separator: "?", maxSplits: 1)
                guard let path = parts.first, path.hasPrefix("/") else { return nil }
                socketPath = String(path)
                host = nil
                port = 0
                if parts.count == 2 {
                    for pair in parts[1].split(separator: "&") {
                        let kv = pair.split(separator: "=", maxSplits: 1)
                        if kv.count == 2, kv[0] == "db", let db = Int(kv[1]) { database = db }
                        if kv.count == 2, kv[0] == "password" { password = String(kv[1]) }
                    }
                }
                return
            }
            guard url.hasPrefix("redis://") else { return nil }
            var rest = Substring(url.dropFirst("redis://".count))
            if let slash = rest.firstIndex(of: "/") {
                guard let db = Int(rest[rest.index(after: slash)...]), (0...15).contains(db) else { return nil }
                database = db
                rest = rest[..<slash]
            }
            if let at = rest.lastIndex(of: "@") {
                let userInfo = rest[..<at]
                password = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).last.map(String.init)
                rest = rest[rest.index(after: at)...]
            }
            socketPath = nil
            if let colon = rest.lastIndex(of: ":") {
                guard let parsed = Int32(rest[rest.index(after: colon)...]), (1...65535).contains(parsed) else { return nil }
                port = parsed
                host = String(rest[..<colon])
            } else {
                port = 6379
                host = String(rest)
            }
            guard let host, !host.isEmpty else { return nil }
        }
    }

    /// hiredis writes with write(2): a server gone away would raise SIGPIPE
    /// and kill the process. The server ignores it already; so must any host.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    init(_ address: Address, timeout: Duration = .seconds(5)) throws(Failure) {
        _ = Self.ignoreBrokenPipes
        let limit = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        context = if let path = address.socketPath {
            redisConnectUnixWithTimeout(path, limit)
        } else {
            redisConnectWithTimeout(address.host, address.port, limit)
        }
        guard let context, context.pointee.err == 0 else {
            let failure = Failure(message: "connect: \(errorText)", connectionLost: true)
            close()
            throw failure
        }
        // Commands are bounded too: a silent server fails a call, never hangs it.
        redisSetTimeout(context, limit)
        if let password = address.password, !password.isEmpty {
            try expectOK(try command(["AUTH", password]), "AUTH")
        }
        if address.database != 0 {
            try expectOK(try command(["SELECT", String(address.database)]), "SELECT")
        }
    }

    deinit { close() }

    var isOpen: Bool { context.map { $0.pointee.err == 0 } ?? false }

    func close() {
        if let context { redisFree(context) }
        context = nil
    }

    private var errorText: String {
        guard let context else { return "out of memory" }
        return withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    func command(_ arguments: [String]) throws(Failure) -> Reply {
        try pipeline([arguments.map { Array($0.utf8) }])[0]
    }

    /// Sends every command, then reads every reply, in order.
    func pipeline(_ commands: [[[UInt8]]]) throws(Failure) -> [Reply] {
        guard let context, context.pointee.err == 0 else { throw Failure(message: "not connected", connectionLost: true) }
        for arguments in commands {
            let status = withArgv(arguments) { argv, lengths in
                redisAppendCommandArgv(context, Int32(arguments.count), argv, lengths)
            }
            guard status == REDIS_OK else { throw lost("append") }
        }
        var replies: [Reply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw lost("reply") }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.convert(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    private func lost(_ what: String) -> Failure {
        let failure = Failure(message: "\(what): \(errorText)", connectionLost: true)
        close()
        return failure
    }

    private func expectOK(_ reply: Reply, _ what: String) throws(Failure) {
        if case .error(let message) = reply { throw Failure(message: "\(what): \(message)", connectionLost: false) }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> Reply {
        let r = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = r.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: Int(r.len)))
        }
        switch r.type {
        case REDIS_REPLY_STRING: return .string(bytes())
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(r.integer)
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(r.elements)).map { convert(r.element[$0]!) })
        default: return .null
        }
    }
}

/// Calls `body` with argv pointers and lengths that live for the call.
private func withArgv<R>(_ arguments: [[UInt8]], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>] = arguments.map { argument in
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: max(argument.count, 1))
        argument.withUnsafeBytes { raw in
            if let base = raw.baseAddress { UnsafeMutableRawPointer(copy).copyMemory(from: base, byteCount: raw.count) }
        }
        return copy
    }
    defer { copies.forEach { $0.deallocate() } }
    var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
    let lengths = arguments.map(\.count)
    return pointers.withUnsafeMutableBufferPointer { argv in
        lengths.withUnsafeBufferPointer { body(argv.baseAddress!, $0.baseAddress!) }
    }
}
