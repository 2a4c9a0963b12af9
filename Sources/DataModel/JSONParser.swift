/// Parses JSON text into a ``Value``: strict RFC 8259 (the same rules as
/// ``JSONSyntax``), nesting bounded, numbers kept exact where they can be.
///
/// Numbers: an integer literal that fits 64 bits is `.int`; a larger one is
/// `.decimal` (exact text); anything with a fraction or exponent is
/// `.double`, and one that overflows a double is an error, not infinity.
public enum JSONParser {
    /// What to do when an object repeats a key.
    public enum DuplicateKeys: Sendable {
        /// An error: requests and specs must be unambiguous.
        case reject
        /// The last occurrence wins, as in Python's `json.loads` and JavaScript.
        case lastWins
    }

    public static func parse(
        _ bytes: [UInt8], maxDepth: Int = JSONSyntax.defaultMaxDepth, duplicateKeys: DuplicateKeys = .reject
    ) throws(JSONSyntax.SyntaxError) -> Value {
        let result = bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(buffer, maxDepth: min(maxDepth, 1024), duplicateKeys: duplicateKeys)
            return parser.run()
        }
        return try result.get()
    }

    public static func parse(_ text: String, duplicateKeys: DuplicateKeys = .reject) throws(JSONSyntax.SyntaxError) -> Value {
        try parse(Array(text.utf8), duplicateKeys: duplicateKeys)
    }
}

private struct Parser: JSONScanning {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    let duplicateKeys: JSONParser.DuplicateKeys
    var index = 0
    var depth = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, duplicateKeys: JSONParser.DuplicateKeys) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.duplicateKeys = duplicateKeys
    }

    mutating func run() -> Result<Value, Failure> {
        do throws(Failure) {
            skipWhitespace()
            guard !atEnd else { throw fail("empty document") }
            let value = try parseValue()
            skipWhitespace()
            guard atEnd else { throw fail("trailing characters after the document") }
            return .success(value)
        } catch {
            return .failure(error)
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws(Failure) -> Value {
        guard !atEnd else { throw fail("expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        default:
            throw fail("unexpected character")
        }
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
    }

    private mutating func parseObject() throws(Failure) -> Value {
        try enter()
        index += 1
        var object = Value.Object()
        var seen: Set<String>?
        skipWhitespace()
        if !atEnd, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard !atEnd, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyOffset = index
            let key = try parseString()
            skipWhitespace()
            guard !atEnd, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            // Small objects are scanned; large ones get a set, keeping this linear.
            if object.count >= 16, seen == nil { seen = Set(object.keys) }
            let duplicate: Bool
            if seen != nil {
                duplicate = !seen!.insert(key).inserted
            } else {
                duplicate = object.fields.contains(where: { $0.key == key })
            }
            if duplicate {
                switch duplicateKeys {
                case .reject: throw fail("duplicate key '\(key)'", at: keyOffset)
                case .lastWins: object[key] = value
                }
            } else {
                object.fields.append(.init(key, value))
            }
            skipWhitespace()
            guard !atEnd else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                depth -= 1
                return .object(object)
            } else {
                throw fail("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws(Failure) -> Value {
        try enter()
        index += 1
        var elements: [Value] = []
        skipWhitespace()
        if !atEnd, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard !atEnd else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                depth -= 1
                return .array(elements)
            } else {
                throw fail("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws(Failure) -> Value {
        let start = index
        let integral = try scanNumber()
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if integral {
            if let value = Int64(text) { return .int(value) }
            return .decimal(text)
        }
        guard let value = Double(text), value.isFinite else { throw fail("number out of range", at: start) }
        return .double(value)
    }

    /// A string literal, unescaped. The opening quote is at `index`.
    private mutating func parseString() throws(Failure) -> String {
        index += 1
        let start = index
        // Fast path: no escapes, so the bytes are the string.
        while true {
            index = ByteScanning.nextStringSpecial(bytes, from: index, stopsAtNonASCII: true)
            guard index < bytes.count else { break }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let string = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail("unescaped control character in string") }
            if byte >= 0x80 {
                guard let length = UTF8Validation.sequenceLength(bytes, at: index) else {
                    throw fail("invalid UTF-8 in string")
                }
                index += length
            } else {
                index += 1
            }
        }
        var scalars = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                guard !atEnd else { throw fail("unterminated escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append(0x22)
                case UInt8(ascii: "\\"): scalars.append(0x5C)
                case UInt8(ascii: "/"): scalars.append(0x2F)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    let scalar = try unicodeEscape()
                    appendUTF8(scalar, to: &scalars)
                default:
                    throw fail("invalid escape", at: index - 1)
                }
            case 0..<0x20:
                throw fail("unescaped control character in string")
            case 0x80...:
                guard let length = UTF8Validation.sequenceLength(bytes, at: index) else {
                    throw fail("invalid UTF-8 in string")
                }
                scalars.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<index + length]))
                index += length
            default:
                scalars.append(byte)
                index += 1
            }
        }
        throw fail("unterminated string")
    }
}

/// Appends a Unicode scalar (not a surrogate) as UTF-8.
func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
    switch scalar {
    case 0..<0x80:
        out.append(UInt8(scalar))
    case 0x80..<0x800:
        out.append(UInt8(0xC0 | scalar >> 6))
        out.append(UInt8(0x80 | scalar & 0x3F))
    case 0x800..<0x10000:
        out.append(UInt8(0xE0 | scalar >> 12))
        out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
        out.append(UInt8(0x80 | scalar & 0x3F))
    default:
        out.append(UInt8(0xF0 | scalar >> 18))
        out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
        out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
        out.append(UInt8(0x80 | scalar & 0x3F))
    }
}
