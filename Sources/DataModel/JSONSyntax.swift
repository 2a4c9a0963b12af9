/// A strict RFC 8259 JSON validator that allocates nothing: one pass over the
/// bytes, an explicit nesting stack in two words, UTF-8 checked inside strings.
public enum JSONSyntax {
    /// Deeper documents are rejected (bounded work and no pathological inputs downstream).
    public static let defaultMaxDepth = 128
    /// The nesting stack is two 64-bit words: no deeper limit can be honoured.
    public static let supportedDepths = 1...128

    /// What validation learned on the way.
    public struct Summary: Sendable, Equatable {
        /// Line breaks occur between tokens (they cannot occur inside strings).
        public var containsLineBreaks: Bool
    }

    /// Why a document is not JSON, and where.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// `maxDepth` must be in ``supportedDepths`` (a limit is never lowered silently).
    @discardableResult
    public static func validate(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(SyntaxError) -> Summary {
        precondition(supportedDepths.contains(maxDepth), "JSON nesting limit \(maxDepth) outside \(supportedDepths)")
        let result = bytes.withUnsafeBufferPointer { buffer in
            var validator = Validator(buffer, maxDepth: maxDepth)
            return validator.run()
        }
        return try result.get()
    }
}

private struct Validator: JSONScanning {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var index = 0
    var depth = 0
    /// Bit n set: the container at depth n is an object (else an array).
    var objectBits: (UInt64, UInt64) = (0, 0)
    var lineBreaks = false

    init(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func run() -> Result<JSONSyntax.Summary, Failure> {
        do throws(Failure) {
            try document()
            return .success(JSONSyntax.Summary(containsLineBreaks: lineBreaks))
        } catch {
            return .failure(error)
        }
    }

    /// Called between every two tokens, mostly to find no whitespace or one
    /// space (`json.dumps` writes `", "` and `": "`): anything above a space
    /// ends it with one comparison, and it is inlined (perf: as a call it
    /// had 9 % of a JSON drain's consumer thread).
    @inline(__always)
    private mutating func skipWhitespace() {
        while index < bytes.count {
            let byte = bytes[index]
            if byte > 0x20 { return }
            switch byte {
            case 0x20, 0x09: index += 1
            case 0x0A, 0x0D:
                lineBreaks = true
                index += 1
            default: return
            }
        }
    }

    private var insideObject: Bool {
        let level = depth - 1
        return level < 64 ? (objectBits.0 >> level) & 1 == 1 : (objectBits.1 >> (level - 64)) & 1 == 1
    }

    private mutating func push(object: Bool) throws(Failure) {
        guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        let bit: UInt64 = object ? 1 : 0
        if depth < 64 {
            objectBits.0 = (objectBits.0 & ~(1 << depth)) | (bit << depth)
        } else {
            objectBits.1 = (objectBits.1 & ~(1 << (depth - 64))) | (bit << (depth - 64))
        }
        depth += 1
    }

    private mutating func document() throws(Failure) {
        skipWhitespace()
        guard !atEnd else { throw fail("empty document") }
        var expectValue = true
        while true {
            if expectValue {
                try value()
                expectValue = false
            }
            // After a value: close containers or move to the next element.
            skipWhitespace()
            if depth == 0 { break }
            guard !atEnd else { throw fail("unexpected end of input") }
            let byte = bytes[index]
            if insideObject {
                if byte == UInt8(ascii: ",") {
                    index += 1
                    try memberKey()
                    expectValue = true
                } else if byte == UInt8(ascii: "}") {
                    index += 1
                    depth -= 1
                } else {
                    throw fail("expected ',' or '}'")
                }
            } else {
                if byte == UInt8(ascii: ",") {
                    index += 1
                    expectValue = true
                } else if byte == UInt8(ascii: "]") {
                    index += 1
                    depth -= 1
                } else {
                    throw fail("expected ',' or ']'")
                }
            }
        }
        guard atEnd else { throw fail("trailing characters after the document") }
    }

    /// Parses one value; containers are opened here and closed by `document()`.
    private mutating func value() throws(Failure) {
        skipWhitespace()
        guard !atEnd else { throw fail("expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            try push(object: true)
            skipWhitespace()
            if !atEnd, bytes[index] == UInt8(ascii: "}") {
                index += 1
                depth -= 1
            } else {
                try memberKey()
                try value()
            }
        case UInt8(ascii: "["):
            index += 1
            try push(object: false)
            skipWhitespace()
            if !atEnd, bytes[index] == UInt8(ascii: "]") {
                index += 1
                depth -= 1
            } else {
                try value()
            }
        case UInt8(ascii: "\""):
            try string()
        case UInt8(ascii: "t"):
            try literal("true")
        case UInt8(ascii: "f"):
            try literal("false")
        case UInt8(ascii: "n"):
            try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try number()
        default:
            throw fail("unexpected character")
        }
    }

    /// `"key" :` inside an object.
    private mutating func memberKey() throws(Failure) {
        skipWhitespace()
        guard !atEnd, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
        try string()
        skipWhitespace()
        guard !atEnd, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
        index += 1
    }

    private mutating func number() throws(Failure) {
        _ = try scanNumber()
    }

    private mutating func string() throws(Failure) {
        index += 1  // opening quote
        while true {
            // Plain ASCII needs no look: skipped a word at a time.
            index = ByteScanning.nextStringSpecial(bytes, from: index, stopsAtNonASCII: true)
            guard index < bytes.count else { break }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return
            case UInt8(ascii: "\\"):
                index += 1
                guard !atEnd else { throw fail("unterminated escape") }
                switch bytes[index] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    index += 1
                    _ = try unicodeEscape()
                default:
                    throw fail("invalid escape")
                }
            case 0..<0x20:
                throw fail("unescaped control character in string")
            case 0x80...:
                guard let length = UTF8Validation.sequenceLength(bytes, at: index) else {
                    throw fail("invalid UTF-8 in string")
                }
                index += length
            default:
                index += 1
            }
        }
        throw fail("unterminated string")
    }
}
