import Foundation
import HTTPServer

/// The bearer tokens that may call the API, from `--api-token-file` (one per
/// line, `TOKEN` or `TOKEN:read-only`, `#` comments) or `CONSUMERD_API_TOKEN`.
/// Only SHA-256 digests are kept; a presented token is hashed and compared
/// with every digest in constant time, so neither its length nor its
/// prefix shows in the timing.
public struct APITokens: Sendable {
    public enum Role: String, Sendable {
        /// Every route.
        case admin
        /// GET and HEAD only.
        case readOnly = "read-only"
    }

    public struct Principal: Sendable, Equatable {
        /// What the audit log names: a short hash, never the token.
        public let id: String
        public let role: Role
    }

    private struct Entry: Sendable {
        let digest: [UInt8]
        let principal: Principal
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Shorter tokens are refused: a bearer token is only as strong as its guessing space.
    public static let minimumLength = 16
    private static let roleSeparator: Character = ":"

    private let entries: [Entry]

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    public init() { entries = [] }

    /// Parses a token file's text; `source` names it in errors.
    public init(fileContents: String, source: String) throws(ParseError) {
        var entries: [Entry] = []
        for (index, rawLine) in fileContents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let entry = try Self.entry(line, where: "\(source) line \(index + 1)")
            entries.append(entry)
        }
        self.entries = entries
    }

    /// A single admin token (`CONSUMERD_API_TOKEN`).
    public init(token: String, source: String) throws(ParseError) {
        entries = [try Self.entry(token.trimmingCharacters(in: .whitespacesAndNewlines), where: source)]
    }

    /// Both sources together.
    public func adding(_ other: APITokens) -> APITokens {
        APITokens(entries: entries + other.entries)
    }

    private init(entries: [Entry]) { self.entries = entries }

    private static func entry(_ line: String, where location: String) throws(ParseError) -> Entry {
        var token = line
        var role = Role.admin
        if let separator = line.lastIndex(of: roleSeparator) {
            let suffix = String(line[line.index(after: separator)...])
            guard let parsed = Role(rawValue: suffix) else {
                throw ParseError(description: "\(location): unknown role '\(suffix)' (the only role suffix is :read-only)")
            }
            role = parsed
            token = String(line[..<separator])
        }
        guard token.count >= minimumLength else {
            throw ParseError(description: "\(location): a token must be at least \(minimumLength) characters")
        }
        guard token.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            throw ParseError(description: "\(location): a token is printable ASCII without spaces")
        }
        let digest = SHA256.hash(Array(token.utf8))
        let id = "token-" + digest.prefix(4).map { String(format: "%02x", $0) }.joined()
        return Entry(digest: digest, principal: Principal(id: id, role: role))
    }

    /// The principal a presented token belongs to, or `nil`.
    public func principal(for token: String) -> Principal? {
        let digest = SHA256.hash(Array(token.utf8))
        var found: Principal?
        // Every entry is compared, whatever matched, so the time taken does
        // not say which entry (or how much of one) matched.
        for entry in entries where Self.constantTimeEqual(entry.digest, digest) {
            found = found ?? entry.principal
        }
        return found
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
