import Foundation

/// An error that knows its HTTP status and renders as
/// `{"error": {"code": "...", "message": "...", "field": "..."}}`.
public struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    /// A stable, machine-readable code (`invalid_spec`, `consumer_not_found`).
    public var code: String
    public var message: String
    /// The offending request field, dotted (`batch.max_records`), when there is one.
    public var field: String?
    public var headers: [Header]

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(status: Int, code: String, message: String, field: String? = nil, headers: [Header] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
    }

    public var description: String { "\(status) \(code): \(message)" + (field.map { " (\($0))" } ?? "") }

    public var response: HTTPResponse {
        var response = HTTPResponse.json(Body(error: Body.Detail(code: code, message: message, field: field)), status: status)
        response.headers += headers.map { ($0.name, $0.value) }
        return response
    }

    /// An error body a client received, if it is one of ours.
    public init?(status: Int, body: [UInt8]) {
        guard let decoded = try? JSONDecoder().decode(Body.self, from: Data(body)) else { return nil }
        self.init(status: status, code: decoded.error.code, message: decoded.error.message, field: decoded.error.field)
    }

    /// The wire shape.
    struct Body: Codable {
        struct Detail: Codable {
            var code: String
            var message: String
            var field: String?

            init(code: String, message: String, field: String?) {
                self.code = code
                self.message = message
                self.field = field
            }

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                code = try container.decode(String.self, forKey: .code)
                message = try container.decode(String.self, forKey: .message)
                field = try container.decodeIfPresent(String.self, forKey: .field)
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(code, forKey: .code)
                try container.encode(message, forKey: .message)
                try container.encode(field, forKey: .field)  // always present, null when absent
            }

            enum CodingKeys: String, CodingKey { case code, message, field }
        }
        var error: Detail
    }

    public static func badRequest(_ message: String, code: String = "bad_request", field: String? = nil) -> HTTPError {
        HTTPError(status: 400, code: code, message: message, field: field)
    }

    public static func notFound(_ message: String, code: String = "not_found") -> HTTPError {
        HTTPError(status: 404, code: code, message: message)
    }

    public static func methodNotAllowed(_ allowed: [HTTPMethod]) -> HTTPError {
        let list = allowed.map(\.rawValue).sorted().joined(separator: ", ")
        return HTTPError(
            status: 405, code: "method_not_allowed", message: "allowed methods: \(list)", headers: [Header("Allow", list)])
    }

    public static func payloadTooLarge(limit: Int) -> HTTPError {
        HTTPError(status: 413, code: "payload_too_large", message: "request body exceeds \(limit) bytes")
    }

    public static func unsupportedMediaType(_ received: String?) -> HTTPError {
        HTTPError(
            status: 415, code: "unsupported_media_type",
            message: "expected Content-Type application/json, got \(received ?? "none")")
    }

    /// A safe 500: the details go to the log, never to the client.
    public static let `internal` = HTTPError(status: 500, code: "internal_error", message: "internal server error")

    public static let unavailable = HTTPError(status: 503, code: "shutting_down", message: "the server is shutting down")
}
