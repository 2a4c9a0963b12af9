import Avro
import DataModel
import Foundation
import Testing
import TestSupport

/// Bytes from a topic are untrusted. Each malformed datum must be a clean,
/// permanent error: no crash, no huge allocation, no leak.
@Suite("Avro: hostile bytes")
struct AvroHostileBytesTests {
    static let trade = try! AvroSchema(text: """
        {"type":"record","name":"Trade","fields":[
          {"name":"symbol","type":"string"},
          {"name":"seq","type":"long"},
          {"name":"flag","type":"boolean"},
          {"name":"qty","type":"int"},
          {"name":"tags","type":{"type":"map","values":"string"}},
          {"name":"legs","type":{"type":"array","items":"double"}},
          {"name":"venue","type":["null","string"]},
          {"name":"side","type":{"type":"enum","name":"Side","symbols":["BUY","SELL"]}},
          {"name":"id","type":{"type":"fixed","name":"Id","size":4}}
        ]}
        """)
    static let nulls = try! AvroSchema(text: #"{"type":"array","items":"null"}"#)

    static let valid: [UInt8] = try! AvroEncoder(schema: trade).encode([
        "symbol": "AAPL", "seq": 42, "flag": true, "qty": 7, "tags": ["k": "v"], "legs": [1.5, 2.5],
        "venue": "XNAS", "side": "SELL", "id": .bytes([1, 2, 3, 4]),
    ])

    /// Why the decoder refuses `bytes`; the JSON transcoder must refuse
    /// them for the same reason, as both walk the datum the same way.
    private func malformed(_ bytes: [UInt8], _ schema: AvroSchema = trade, _ decoder: AvroDecoder = AvroDecoder()) -> AvroError? {
        let error = Self.refusal { () throws(AvroError) in _ = try decoder.decode(bytes, writer: schema) }
        let transcoderError = Self.refusal { () throws(AvroError) in _ = try transcode(bytes, writer: schema) }
        #expect(transcoderError == error, "the transcoder disagrees with the decoder")
        return error
    }

    private static func refusal(_ body: () throws(AvroError) -> Void) -> AvroError? {
        do {
            try body()
            return nil
        } catch {
            return error
        }
    }

    @Test("the valid datum decodes")
    func validDecodes() throws {
        let value = try AvroDecoder().decode(Self.valid, writer: Self.trade)
        #expect(value.objectValue?["symbol"] == "AAPL" && value.objectValue?["side"] == "SELL")
    }

    @Test("every truncation and every trailing byte is refused")
    func truncations() {
        let decoder = AvroDecoder()
        for length in 0..<Self.valid.count {
            #expect(malformed(Array(Self.valid.prefix(length)), Self.trade, decoder)?.kind == .malformed, "prefix of \(length) bytes")
        }
        #expect(malformed(Self.valid + [0], Self.trade, decoder)?.message.contains("left over") == true)
    }

    /// A zig-zag varint.
    static func varint(_ value: Int64) -> [UInt8] {
        var raw = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(raw & 0x7F)
            raw >>= 7
            if raw != 0 { byte |= 0x80 }
            out.append(byte)
        } while raw != 0
        return out
    }

    @Test("declared lengths and counts are bounded before avro-c sees them", arguments: [
        ("huge string length", varint(1 << 62) + Array("AAPL".utf8), "exceeds"),
        ("negative string length", varint(-5), "negative"),
        ("string length past the end", varint(100) + Array("AAPL".utf8), "exceeds"),
        ("overlong varint", Array(repeating: 0xFF, count: 10) + [0x7F], "longer than 64 bits"),
        ("unterminated varint", [0x80, 0x80], "truncated varint"),
    ] as [(String, [UInt8], String)])
    func lengths(name: String, bytes: [UInt8], reason: String) {
        let error = malformed(bytes)
        #expect(error?.kind == .malformed, "\(name)")
        #expect(error?.message.contains(reason) == true, "\(name): \(error?.message ?? "decoded")")
    }

    @Test("collections cannot claim unbounded elements")
    func collections() {
        // A billion nulls take no bytes each: refused by the element budget.
        #expect(malformed(Self.varint(1_000_000_000) + [0], Self.nulls)?.message.contains("more than") == true)
        // INT64_MIN cannot be negated.
        #expect(malformed(Self.varint(.min) + [0], Self.nulls)?.message.contains("out of range") == true)
        // A negative count carries a byte size that must fit.
        #expect(malformed(Self.varint(-2) + Self.varint(1 << 40) + [0], Self.nulls)?.message.contains("block size") == true)
        // A million nulls are fine, in one block or many.
        #expect(malformed(Self.varint(1_000_000) + [0], Self.nulls) == nil)
        #expect(malformed(Self.varint(-3) + Self.varint(0) + Self.varint(2) + [0], Self.nulls) == nil)
    }

    @Test("out-of-range union branches, enum indexes, booleans and ints are refused")
    func ranges() throws {
        let union = try AvroSchema(text: #"["null","string"]"#)
        #expect(malformed(Self.varint(2), union)?.message.contains("union branch") == true)
        #expect(malformed(Self.varint(-1), union)?.message.contains("union branch") == true)
        let enumeration = try AvroSchema(text: #"{"type":"enum","name":"E","symbols":["A"]}"#)
        #expect(malformed(Self.varint(1), enumeration)?.message.contains("enum index") == true)
        #expect(malformed([2], try AvroSchema(text: #""boolean""#))?.message.contains("neither 0 nor 1") == true)
        #expect(malformed(Self.varint(Int64(Int32.max) + 1), try AvroSchema(text: #""int""#))?.message.contains("32-bit") == true)
        let map = try AvroSchema(text: #"{"type":"map","values":"int"}"#)
        #expect(malformed(Self.varint(1) + Self.varint(2) + [0x61, 0x00] + Self.varint(1) + [0], map)?.message.contains("NUL") == true)
        #expect(malformed(Self.varint(1) + [0xC3, 0x28], try AvroSchema(text: #""string""#)) != nil, "invalid UTF-8")
    }

    @Test("deep recursion is refused")
    func depth() throws {
        let list = try AvroSchema(text: #"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#)
        // 100 levels of "branch 1" then a null.
        let bytes = Array(repeating: Self.varint(1), count: 100).flatMap { $0 } + Self.varint(0)
        #expect(malformed(bytes, list)?.message.contains("deeper") == true)
        let shallow = Array(repeating: Self.varint(1), count: 10).flatMap { $0 } + Self.varint(0)
        #expect(malformed(shallow, list) == nil)
    }

    @Test("Confluent framing: wrong magic and short messages are refused")
    func framing() throws {
        #expect(throws: AvroError.self) { try ConfluentWireFormat.schemaID(of: [1, 0, 0, 0, 1]) }
        #expect(throws: AvroError.self) { try ConfluentWireFormat.schemaID(of: [0, 0, 0]) }
        #expect(try ConfluentWireFormat.schemaID(of: ConfluentWireFormat.frame(schemaID: 258, payload: [9])) == 258)
    }

    @Test("random bytes never crash")
    func randomBytes() {
        let refused = Self.decodeBadRecords(count: 20_000)
        #expect(refused > 10_000, "most mangled records are refused (bit flips in values stay valid)")
    }

    /// RSS is per process and the suite runs tests in parallel, so the
    /// measurement runs alone in a child process: this test binary again,
    /// filtered to the probe below.
    @Test("100,000 bad records and 10,000 schema parses leave memory flat (measured in a child process)")
    func memoryFlat() async throws {
        guard ProcessInfo.processInfo.environment["CONSUMERD_SANITIZER"] == nil else { return }  // ASan quarantines frees.
        // Seconds of CPU in the child: off the two-thread test pool.
        let output = try await offPool {
            try TestSupport.run(
                ProcessInfo.processInfo.arguments[0], ["--testing-library", "swift-testing", "--filter", "memoryProbe"],
                environment: ["CONSUMERD_MEMORY_PROBE": "1"])
        }
        let growth = output.split(separator: "\n").first { $0.hasPrefix("RSS_GROWTH=") }.flatMap { Int($0.dropFirst(11)) }
        let measured = try #require(growth, "the probe printed no measurement: \(output.suffix(500))")
        #expect(measured < 4 << 20, "RSS grew by \(measured) bytes over 100,000 bad records")
    }

    @Test("memory probe (runs only in the child process of the test above)")
    func memoryProbe() {
        guard ProcessInfo.processInfo.environment["CONSUMERD_MEMORY_PROBE"] != nil else { return }
        _ = Self.decodeBadRecords(count: 10_000)  // Warm up: caches, allocator arenas.
        for _ in 0..<1000 { _ = try? AvroSchema(text: Self.trade.text) }
        let before = residentBytes()
        _ = Self.decodeBadRecords(count: 100_000)
        // Schemas too: a registry may serve many, and each is parsed once.
        for _ in 0..<10_000 { _ = try? AvroSchema(text: Self.trade.text) }
        print("RSS_GROWTH=\(residentBytes() - before)")
    }

    /// Decodes mangled copies of a valid record; returns how many were refused.
    static func decodeBadRecords(count: Int) -> Int {
        let decoder = AvroDecoder()
        var refused = 0
        forEachMangledRecord(count: count) { bytes in
            if (try? decoder.decode(bytes, writer: trade)) == nil { refused += 1 }
        }
        return refused
    }

    /// Random bytes, truncations, bit flips and prefixed garbage around ``valid``.
    static func forEachMangledRecord(count: Int, _ body: ([UInt8]) -> Void) {
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<count {
            switch generator.next() % 4 {
            case 0: body((0..<Int(generator.next() % 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
            case 1: body(Array(valid.prefix(Int(generator.next() % UInt64(valid.count)))))
            case 2:
                var flipped = valid
                flipped[Int(generator.next() % UInt64(flipped.count))] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
                body(flipped)
            default: body(varint(Int64(bitPattern: generator.next())) + valid)
            }
        }
    }

    @Test("on 20,000 mangled records the JSON transcoder refuses what the decoder refuses and writes what it reads")
    func transcoderAgrees() throws {
        let decoder = AvroDecoder()
        var accepted = 0
        Self.forEachMangledRecord(count: 20_000) { bytes in
            let tree = Result { () throws(AvroError) in try decoder.decode(bytes, writer: Self.trade) }
            let json = Result { () throws(AvroError) in try transcode(bytes, writer: Self.trade) }
            switch (tree, json) {
            case (.success(let value), .success(let text)):
                accepted += 1
                #expect(text == Array(JSONWriter.string(value).utf8), "\(bytes)")
            case (.failure(let treeError), .failure(let jsonError)):
                #expect(treeError == jsonError, "\(bytes)")
            default:
                Issue.record("the paths disagree on \(bytes): \(tree) against \(json)")
            }
        }
        #expect(accepted > 1_000, "bit flips inside values keep many records valid")
    }

    @Test("invalid schemas get a clear error", arguments: [
        (#"{"type":"record","name":"R"}"#, "fields"),
        (#"{"type":"enum","name":"E","symbols":[]}"#, "symbols"),
        (#"["int","int"]"#, "twice"),
        (#""Nope""#, "unknown type"),
        (#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#, "two fields"),
        (#"{"type":"fixed","name":"F","size":-1}"#, "size"),
        (#"{"type":"record","name":"1R","fields":[]}"#, "not a valid Avro name"),
        ("{", "not JSON"),
    ] as [(String, String)])
    func invalidSchemas(text: String, reason: String) {
        let error = #expect(throws: AvroError.self) { try AvroSchema(text: text) }
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
    }
}

/// The process's resident set size, from /proc.
func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
