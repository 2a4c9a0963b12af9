import CCurl

/// A blocking HTTP/1.1 client over libcurl, for the calls consumerd makes
/// from its own threads: Schema Registry look-ups today, HTTP sinks and alert
/// webhooks later. One instance holds one connection (kept alive between
/// requests) and is used by one thread at a time.
///
/// Safe by default: only `http` and `https`, no redirects, TLS verified,
/// every request bounded in time and in response size.
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer

    public struct Request: Sendable {
        public var method: String
        public var url: String
        public var headers: [(String, String)]
        public var body: [UInt8]?
        /// The whole exchange, connecting included.
        public var timeout: Duration
        public var connectTimeout: Duration
        /// Larger responses fail with ``HTTPClientError/Kind/responseTooLarge``.
        public var maxResponseBytes: Int
        public var basicAuth: (username: String, password: String)?
        /// PEM certificates to trust instead of the system's (a private CA).
        public var caFile: String?

        public init(
            method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
            timeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(5), maxResponseBytes: Int = 1 << 20,
            basicAuth: (username: String, password: String)? = nil, caFile: String? = nil
        ) {
            self.caFile = caFile
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.maxResponseBytes = maxResponseBytes
            self.basicAuth = basicAuth
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]

        public var isSuccess: Bool { (200..<300).contains(status) }
    }

    public init() {
        _ = Self.globalInit
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        self.handle = handle
    }

    deinit {
        curl_easy_cleanup(handle)
    }

    /// libcurl's global state, initialised once before the first handle.
    private static let globalInit: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    /// Performs one request. Any HTTP status is a response; only transport
    /// problems (refused, reset, timed out, too large) throw.
    public func perform(_ request: Request) throws(HTTPClientError) -> Response {
        curl_easy_reset(handle)
        let sink = ResponseBuffer(limit: request.maxResponseBytes)
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { if let headerList { curl_slist_free_all(headerList) } }
        for (name, value) in request.headers {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        // libcurl adds `Expect: 100-continue` to larger POSTs; servers that
        // do not answer it stall each request by a second.
        headerList = curl_slist_append(headerList, "Expect:")

        let result: CURLcode = withExtendedLifetime(sink) {
            ccurl_setopt_string(handle, CURLOPT_URL, request.url)
            ccurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
            ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
            ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(request.timeout.milliseconds))
            ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout.milliseconds))
            ccurl_setopt_pointer(handle, CURLOPT_HTTPHEADER, headerList)
            ccurl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, responseWriter)
            ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, Unmanaged.passUnretained(sink).toOpaque())
            if let auth = request.basicAuth {
                ccurl_setopt_long(handle, CURLOPT_HTTPAUTH, ccurl_auth_basic)
                ccurl_setopt_string(handle, CURLOPT_USERNAME, auth.username)
                ccurl_setopt_string(handle, CURLOPT_PASSWORD, auth.password)
            }
            if let caFile = request.caFile {
                ccurl_setopt_string(handle, CURLOPT_CAINFO, caFile)
            }
            if request.method != "GET" {
                ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
            }
            guard let body = request.body else { return curl_easy_perform(handle) }
            return body.withUnsafeBytes { raw in
                ccurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
                // COPYPOSTFIELDS takes a copy, so the buffer need not outlive the call.
                ccurl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
                return curl_easy_perform(handle)
            }
        }
        guard result == CURLE_OK else {
            if sink.overflowed {
                throw HTTPClientError(.responseTooLarge, "\(request.url): response larger than \(request.maxResponseBytes) bytes")
            }
            let reason = String(cString: curl_easy_strerror(result))
            let kind: HTTPClientError.Kind = switch result {
            case CURLE_OPERATION_TIMEDOUT: .timeout
            case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: .invalidRequest
            default: .connection
            }
            throw HTTPClientError(kind, "\(request.method) \(Self.describe(request.url)): \(reason)")
        }
        var status = 0
        _ = ccurl_response_code(handle, &status)
        return Response(status: status, body: sink.bytes)
    }

    /// Whether a URL from a spec is one this client may be pointed at: http
    /// or https with a host, at most `maxBytes`, no spaces or control bytes.
    public static func isAcceptable(_ url: String, maxBytes: Int) -> Bool {
        guard url.utf8.count <= maxBytes, url.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else { return false }
        for scheme in ["http://", "https://"] where url.hasPrefix(scheme) {
            let host = url.dropFirst(scheme.count).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            return !host.isEmpty && !host.hasSuffix("@")
        }
        return false
    }

    /// The URL without credentials, for messages and logs.
    public static func describe(_ url: String) -> String {
        let utf8 = Array(url.utf8)
        guard let schemeEnd = (0..<max(0, utf8.count - 2)).first(where: { utf8[$0] == 0x3A && utf8[$0 + 1] == 0x2F && utf8[$0 + 2] == 0x2F })
        else { return url }
        let authorityStart = schemeEnd + 3
        let authorityEnd = utf8[authorityStart...].firstIndex(of: 0x2F) ?? utf8.count
        guard let at = utf8[authorityStart..<authorityEnd].lastIndex(of: 0x40) else { return url }
        return String(decoding: utf8[..<authorityStart], as: UTF8.self) + "***@" + String(decoding: utf8[(at + 1)...], as: UTF8.self)
    }
}

/// Why a request got no response.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// Refused, reset, unresolvable host, TLS failure.
        case connection
        case timeout
        case responseTooLarge
        /// A malformed URL or an unsupported scheme: retrying cannot help.
        case invalidRequest
    }

    public let kind: Kind
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The same request may succeed later.
    public var isRetriable: Bool { kind == .connection || kind == .timeout }
    public var description: String { message }
}

private final class ResponseBuffer {
    let limit: Int
    var bytes: [UInt8] = []
    var overflowed = false

    init(limit: Int) { self.limit = limit }
}

private let responseWriter: ccurl_data_callback = { pointer, size, count, userdata in
    guard let pointer, let userdata else { return 0 }
    let buffer = Unmanaged<ResponseBuffer>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    guard buffer.bytes.count + length <= buffer.limit else {
        buffer.overflowed = true
        return 0  // Aborts the transfer.
    }
    pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
        buffer.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
    }
    return length
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
