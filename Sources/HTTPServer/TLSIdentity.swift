import CGnuTLS
import Foundation

/// A PEM certificate chain and its private key for HTTPS, checked before the
/// server starts: libmicrohttpd only says that it could not start.
public struct TLSIdentity: Sendable {
    public let certificatePEM: String
    public let keyPEM: String

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads both files and checks that they parse and belong together.
    public init(certificateFile: String, keyFile: String) throws(LoadError) {
        certificatePEM = try Self.read(certificateFile, what: "TLS certificate")
        keyPEM = try Self.read(keyFile, what: "TLS key")
        let status = certificatePEM.withCString { certificate in
            keyPEM.withCString { key in
                cgnutls_check_key_pair(certificate, strlen(certificate), key, strlen(key))
            }
        }
        guard status == 0 else {
            let reason = String(cString: gnutls_strerror(status))
            throw LoadError(description: "cannot use TLS certificate \(certificateFile) with key \(keyFile): \(reason)")
        }
    }

    private static func read(_ path: String, what: String) throws(LoadError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(description: "cannot read the \(what) \(path) (missing or not readable)")
        }
        guard let text = String(data: data, encoding: .utf8), text.contains("-----BEGIN ") else {
            throw LoadError(description: "the \(what) \(path) is not PEM")
        }
        return text
    }
}

/// SHA-256 through GnuTLS (already linked for TLS).
public enum SHA256 {
    public static func hash(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let input = Array(bytes)
        let status = input.withUnsafeBytes { buffer in
            digest.withUnsafeMutableBufferPointer { cgnutls_sha256(buffer.baseAddress, buffer.count, $0.baseAddress) }
        }
        precondition(status == 0, "GnuTLS SHA-256 failed")
        return digest
    }
}
