import Foundation

/// A coding key for any field name, used to see which keys a JSON object has.
public struct AnyCodingKey: CodingKey {
    public var stringValue: String
    public var intValue: Int?

    public init(stringValue: String) { self.stringValue = stringValue }
    public init(intValue: Int) {
        self.stringValue = "Index \(intValue)"
        self.intValue = intValue
    }
}

extension Decoder {
    /// Fails on fields the type does not know: a typo such as `max_record`
    /// must be an error, not a silently ignored setting.
    public func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let known = Set(Keys.allCases.map(\.stringValue))
        let container = try container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where !known.contains(key.stringValue) {
            let expected = Keys.allCases.map(\.stringValue).joined(separator: ", ")
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [key], debugDescription: "is not a known field (known fields: \(expected))"))
        }
    }
}

extension KeyedDecodingContainer {
    /// Decodes a string enum with an error that lists the accepted values.
    public func decodeEnum<T: RawRepresentable & CaseIterable>(_ type: T.Type, forKey key: Key) throws -> T where T.RawValue == String {
        let raw = try decode(String.self, forKey: key)
        guard let value = T(rawValue: raw) else {
            let accepted = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [key], debugDescription: "unsupported value '\(raw)' (expected one of: \(accepted))"))
        }
        return value
    }

    public func decodeEnumIfPresent<T: RawRepresentable & CaseIterable>(_ type: T.Type, forKey key: Key) throws -> T? where T.RawValue == String {
        guard try isPresent(String.self, key) else { return nil }
        return try decodeEnum(type, forKey: key)
    }

    /// Like `decodeIfPresent`, but an explicit `null` is an error: a field
    /// is either set to a value or left out.
    public func decodeUnlessAbsent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard try isPresent(type, key) else { return nil }
        return try decode(type, forKey: key)
    }

    private func isPresent<T>(_ type: T.Type, _ key: Key) throws -> Bool {
        guard contains(key) else { return false }
        if try decodeNil(forKey: key) {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [key], debugDescription: "null"))
        }
        return true
    }
}

/// Decodes a JSON request body into `T`, turning decoder errors into a
/// message and the dotted path of the offending field.
public enum StrictJSON {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// `nil` when the body is not JSON at all.
        public var field: String?
        public var message: String

        public init(field: String?, message: String) {
            self.field = field
            self.message = message
        }

        public var description: String { field.map { "\($0): \(message)" } ?? message }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(Failure) -> T {
        guard !bytes.isEmpty else { throw Failure(field: nil, message: "the request body is empty") }
        let value: Value
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw Failure(field: nil, message: "invalid JSON: \(error)")
        }
        return try decode(type, from: value)
    }

    /// Decodes an already parsed document (a spec file, a part of a request).
    public static func decode<T: Decodable>(_ type: T.Type, from value: Value) throws(Failure) -> T {
        do {
            return try ValueDecoder().decode(type, from: value)
        } catch let error as DecodingError {
            throw failure(from: error)
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(field: nil, message: "\(error)")
        }
    }

    public static func failure(from error: DecodingError) -> Failure {
        switch error {
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty {
                return Failure(field: nil, message: "the body must be a JSON object")
            }
            let got = context.debugDescription.hasPrefix("got ") ? ", \(context.debugDescription)" : ""
            return Failure(field: path(context.codingPath), message: "expected \(describe(type))\(got)")
        case .valueNotFound(let type, let context):
            if context.codingPath.isEmpty {
                // `null` as the whole body is as malformed as `[]`.
                return Failure(field: nil, message: "the body must be a JSON object")
            }
            return Failure(field: path(context.codingPath), message: "must be \(describe(type)), not null")
        case .keyNotFound(let key, let context):
            return Failure(field: path(context.codingPath + [key]), message: "is required")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let detail = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
                return Failure(field: nil, message: "invalid JSON" + (detail.map { ": \($0)" } ?? ""))
            }
            return Failure(field: path(context.codingPath), message: context.debugDescription)
        @unknown default:
            return Failure(field: nil, message: "invalid request body")
        }
    }

    /// `batch.max_records`, `topics[2]`.
    public static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return result
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type, is Int16.Type, is Int8.Type,
            is UInt.Type, is UInt64.Type, is UInt32.Type, is UInt16.Type, is UInt8.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is [String].Type: "an array of strings"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }
}
