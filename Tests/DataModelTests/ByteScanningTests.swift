@testable import DataModel
import Testing

/// The word-at-a-time scans against byte-at-a-time references, with each
/// kind of byte at every position of strings that cross word boundaries.
@Suite("Byte scanning a word at a time")
struct ByteScanningTests {
    /// Bytes that matter to some scan, and plain ones around them.
    static let specials: [[UInt8]] = [
        [0x22], [0x5C], [0x00], [0x01], [0x1F], [0x7F], [0x80], [0xFF], [0xC3, 0xA9], [0xE2, 0x98, 0x83], [0xF0, 0x9F, 0x98, 0x80],
        [0xC3], [0xED, 0xA0, 0x80],
    ]

    /// Plain text of every length to 24 with one special at each position,
    /// and a second one further on.
    static var texts: [[UInt8]] {
        var texts: [[UInt8]] = []
        for length in 0...24 {
            let plain = Array(repeating: UInt8(ascii: "a"), count: length)
            texts.append(plain)
            for position in 0...length {
                for special in specials {
                    var text = plain
                    text.insert(contentsOf: special, at: position)
                    texts.append(text)
                    text.append(contentsOf: [0x20, 0x22])
                    texts.append(text)
                }
            }
        }
        return texts
    }

    static func referenceSpecial(_ text: [UInt8], from start: Int, stopsAtNonASCII: Bool) -> Int {
        text[start...].firstIndex {
            $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || (stopsAtNonASCII ? $0 >= 0x80 : $0 == 0x7F)
        } ?? text.count
    }

    @Test("the next byte a JSON string needs to look at, from every start")
    func stringSpecials() {
        for text in Self.texts {
            text.withUnsafeBufferPointer { buffer in
                for start in 0...text.count {
                    for stops in [true, false] {
                        #expect(
                            ByteScanning.nextStringSpecial(buffer, from: start, stopsAtNonASCII: stops)
                                == Self.referenceSpecial(text, from: start, stopsAtNonASCII: stops), "\(text) from \(start)")
                    }
                    #expect(ByteScanning.nextNonASCII(buffer, from: start) == (text[start...].firstIndex { $0 >= 0x80 } ?? text.count))
                }
            }
        }
    }

    @Test("UTF-8 validation finds the first invalid byte, as Swift's own decoding does")
    func utf8() {
        for text in Self.texts {
            let swiftAccepts = String(validating: text, as: UTF8.self) != nil
            let offset = UTF8Validation.firstInvalidOffset(text)
            #expect((offset == nil) == swiftAccepts, "\(text)")
            if let offset { #expect(String(validating: text[..<offset], as: UTF8.self) != nil, "\(text): valid before \(offset)") }
        }
    }

    @Test("strings written and validated: escapes round-trip, raw control characters and bad UTF-8 are refused")
    func jsonStrings() throws {
        for text in Self.texts {
            var quoted: [UInt8] = [0x22]
            quoted += text
            quoted.append(0x22)
            let rawValid = (try? JSONSyntax.validate(quoted)) != nil
            let decoded = String(validating: text, as: UTF8.self)
            let expectValid = decoded != nil && !text.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
            #expect(rawValid == expectValid, "\(text)")
            guard let decoded else { continue }
            var written: [UInt8] = []
            JSONWriter.appendString(text, to: &written)
            #expect(!written.dropFirst().dropLast().contains { $0 < 0x20 || $0 == 0x7F }, "\(text)")
            try JSONSyntax.validate(written)
            #expect(try JSONParser.parse(written) == .string(decoded), "\(text)")
        }
    }
}
