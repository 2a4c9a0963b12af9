import ControlPlane
import Foundation
import HTTPClient
import HTTPServer

/// The REST API as `consumerd ctl` sees it: requests with the token, the
/// server's own response types decoded, and the server's error message
/// turned into the command's failure.
struct CtlClient {
    let server: String
    let token: String?
    let caFile: String?
    private let http = HTTPClient()

    /// Responses are bounded (a list of 65,536 consumers' statuses fits).
    static let maxResponseBytes = 256 << 20

    init(server: String, token: String?, caFile: String?) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
        self.caFile = caFile
    }

    struct Reply {
        var status: Int
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One call; a non-2xx answer fails with the server's error message.
    /// `wait`: the call's own `?wait=`, added to the client's timeout;
    /// `timeout`: how long the server may take without a `wait`.
    func call(
        _ method: String, _ path: String, query: [String: String] = [:], body: [UInt8]? = nil, wait: Double? = nil,
        timeout: Duration = .seconds(30), acceptingAlso accepted: Set<Int> = []
    ) throws -> Reply {
        var url = server + path
        let parameters = query.merging(wait.map { ["wait": Self.format($0)] } ?? [:]) { $1 }
        if !parameters.isEmpty {
            url += "?" + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.escape($0.value))" }.joined(separator: "&")
        }
        var headers = [("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let request = HTTPClient.Request(
            method: method, url: url, headers: headers, body: body, timeout: timeout + .milliseconds(Int64((wait ?? 0) * 1000)),
            maxResponseBytes: Self.maxResponseBytes, caFile: caFile)
        let response: HTTPClient.Response
        do {
            response = try http.perform(request)
        } catch {
            throw CommandFailure(description: "cannot reach consumerd at \(server): \(error)")
        }
        guard response.isSuccess || accepted.contains(response.status) else {
            if let error = HTTPError(status: response.status, body: response.body) {
                throw CommandFailure(description: "\(method) \(path): \(error.message) (HTTP \(error.status), \(error.code))")
            }
            throw CommandFailure(description: "\(method) \(path): HTTP \(response.status)")
        }
        return Reply(status: response.status, body: response.body)
    }

    func get<T: Decodable>(_ type: T.Type, _ path: String) throws -> (T, Reply) {
        let reply = try call("GET", path)
        return (try decode(type, reply, path), reply)
    }

    func decode<T: Decodable>(_ type: T.Type, _ reply: Reply, _ path: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(reply.body))
        } catch {
            throw CommandFailure(description: "\(path): unexpected answer from the server (\(error))")
        }
    }

    /// A path segment: consumer names are validated by the server, but a
    /// name typed on the command line must not escape its segment.
    static func segment(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._"))) ?? name
    }

    private static func escape(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? value
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
