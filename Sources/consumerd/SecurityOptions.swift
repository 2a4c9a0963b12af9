import ArgumentParser
import ControlPlane
import Foundation
import HTTPServer

/// Who may reach the REST API and how: tokens, TLS, and the refusal to
/// serve an open API beyond this machine.
struct SecurityOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "API bearer tokens, one per line; append :read-only for a token that may only GET. Also: $CONSUMERD_API_TOKEN.",
        valueName: "file"))
    var apiTokenFile: String?

    @Flag(help: "Require a token for /metrics too (the health probes stay open).")
    var metricsAuth = false

    @Flag(help: "Serve the API without tokens on a non-loopback address. Anyone who reaches the port can create consumers.")
    var insecureNoAuth = false

    @Option(help: ArgumentHelp("Serve HTTPS with this PEM certificate (chain); needs --tls-key.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    static let tokenVariable = "CONSUMERD_API_TOKEN"

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    /// Every configured token: the file's and the environment's.
    func tokens() throws -> APITokens {
        var tokens = APITokens()
        if let apiTokenFile {
            guard let data = FileManager.default.contents(atPath: apiTokenFile), let text = String(data: data, encoding: .utf8) else {
                throw CommandFailure(description: "--api-token-file: cannot read \(apiTokenFile)")
            }
            do {
                tokens = tokens.adding(try APITokens(fileContents: text, source: apiTokenFile))
            } catch {
                throw CommandFailure(description: "--api-token-file: \(error)")
            }
            guard !tokens.isEmpty else { throw CommandFailure(description: "--api-token-file \(apiTokenFile) holds no token") }
        }
        if let token = ProcessInfo.processInfo.environment[Self.tokenVariable], !token.isEmpty {
            do {
                tokens = tokens.adding(try APITokens(token: token, source: Self.tokenVariable))
            } catch {
                throw CommandFailure(description: error.description)
            }
        }
        return tokens
    }

    func tlsIdentity() throws -> TLSIdentity? {
        guard let tlsCert, let tlsKey else { return nil }
        do {
            return try TLSIdentity(certificateFile: tlsCert, keyFile: tlsKey)
        } catch {
            throw CommandFailure(description: error.description)
        }
    }

    /// An API without tokens is only served on loopback, unless the operator says otherwise.
    func checkExposure(host: String, tokens: APITokens) throws {
        guard tokens.isEmpty, !insecureNoAuth, !Self.isLoopback(host) else { return }
        throw CommandFailure(description: """
            refusing to serve the API on \(host) without authentication: anyone who reaches that address could \
            create consumers that open connections and write files. Give tokens (--api-token-file or \
            $\(Self.tokenVariable)), listen on 127.0.0.1, or pass --insecure-no-auth to accept the risk.
            """)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
