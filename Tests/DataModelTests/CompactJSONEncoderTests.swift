import DataModel
import Foundation
import Testing

/// The control plane's responses went through Foundation's `JSONEncoder`
/// (sorted keys, slashes unescaped); ``CompactJSONEncoder`` must write the
/// same bytes for what they hold.
@Suite("CompactJSONEncoder")
struct CompactJSONEncoderTests {
    struct Partition: Codable {
        var topic: String
        var partition: Int32
        var committedOffset: Int64?
        var lag: Int64?

        enum CodingKeys: String, CodingKey {
            case topic, partition, lag
            case committedOffset = "committed_offset"
        }
    }

    /// Writes `null` for a missing value rather than leaving the key out.
    struct Explicit: Codable {
        var reason: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            if let reason { try container.encode(reason, forKey: .reason) } else { try container.encodeNil(forKey: .reason) }
        }
    }

    enum State: String, Codable { case running, stopped }

    struct Empty: Codable {}

    struct Body: Codable {
        var name: String
        var state: State
        var paused: Bool
        var restarts: Int
        var uptimeSeconds: Double
        var rates: [Double]
        var ratio: Float
        var small: UInt8
        var medium: Int16
        var big: UInt64
        var partitions: [Partition]
        var properties: [String: String]
        var counts: [String: Int]
        var explicit: Explicit
        var nothing: Explicit
        var empty: Empty
        var spec: Value
        var matrix: [[Int]]
        var data: Data
        var link: URL
        var optionalList: [String]?
    }

    static let body = Body(
        name: "trades/eu \"quoted\" \\ back\nline\ttab é ☃ 😀 </script>",
        state: .running, paused: false, restarts: 3, uptimeSeconds: 12.0,
        rates: [0, 1, -1, 0.1, 2.5, -0.000_001, 1e-7, 123_456_789.125, 9_007_199_254_740_991, 1e16, 1e20, 1.7976931348623157e308, 5e-324],
        ratio: 0.1, small: 255, medium: -32_768, big: 18_446_744_073_709,
        partitions: [
            Partition(topic: "t", partition: 0, committedOffset: 41, lag: 0),
            Partition(topic: "t", partition: 1, committedOffset: nil, lag: nil),
        ],
        properties: ["fetch.wait.max.ms": "10", "auto.offset.reset": "earliest", "group.instance.id": "a"],
        counts: ["zeta": 1, "alpha": 2, "Beta": 3, "beta_two": 4, "_under": 5],
        explicit: Explicit(reason: "late"), nothing: Explicit(reason: nil), empty: Empty(),
        spec: .object(Value.Object(["z": .int(1), "a": .array([.null, .bool(true), .string("x"), .object(Value.Object(["y": .double(0.5), "b": .int(-7)]))])])),
        matrix: [[1, 2], [], [3]],
        data: Data([0, 1, 2, 250, 255]),
        link: URL(string: "https://example.com/a/b?c=d")!,
        optionalList: nil)

    static func foundation(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func ours(_ value: some Encodable) throws -> String {
        String(decoding: try CompactJSONEncoder().encode(value), as: UTF8.self)
    }

    static func expectSame(_ value: some Encodable, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (ours, foundation) = (try ours(value), try foundation(value))
        #expect(ours == foundation, sourceLocation: sourceLocation)
    }

    @Test("writes what JSONEncoder writes with sorted keys: numbers, strings, nesting, nulls, dictionaries, Data, URL")
    func sameAsFoundation() throws {
        try Self.expectSame(Self.body)
        try Self.expectSame([Self.body, Self.body])
        try Self.expectSame(Self.body.partitions[1])
        try Self.expectSame("top-level string")
        try Self.expectSame(42)
        try Self.expectSame([String: Int]())
    }

    @Test("a key encoded twice keeps its last value")
    func order() throws {
        struct Twice: Encodable {
            enum Keys: String, CodingKey { case b, a }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(1, forKey: .b)
                try container.encode(2, forKey: .a)
                try container.encode(3, forKey: .b)
                try container.encode(4, forKey: .a)
                try container.encode(5, forKey: .b)
            }
        }
        try Self.expectSame(Twice())
        #expect(try Self.ours(Twice()) == #"{"a":4,"b":5}"#)
    }

    @Test("nested containers written after their parent moved on still land in it")
    func nestedContainers() throws {
        struct Manual: Encodable {
            enum Keys: String, CodingKey { case inner, list, after }
            enum InnerKeys: String, CodingKey { case x }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                var inner = container.nestedContainer(keyedBy: InnerKeys.self, forKey: .inner)
                var list = container.nestedUnkeyedContainer(forKey: .list)
                try container.encode("later", forKey: .after)
                try inner.encode(1, forKey: .x)
                try list.encode("a")
                var deeper = list.nestedUnkeyedContainer()
                try deeper.encode(true)
            }
        }
        try Self.expectSame(Manual())
        #expect(try Self.ours(Manual()) == #"{"after":"later","inner":{"x":1},"list":["a",[true]]}"#)
    }

    @Test("integers outside 64-bit signed numbers are refused, not rounded, with where they were")
    func unsignedOverflow() throws {
        struct Counter: Encodable { var total: UInt64 }
        struct Outer: Encodable { var counters: [Counter] }
        #expect(throws: EncodingError.self) { try CompactJSONEncoder().encode(UInt64.max) }
        #expect(try Self.ours(Outer(counters: [Counter(total: UInt64(Int64.max))])) == #"{"counters":[{"total":9223372036854775807}]}"#)
        let error = #expect(throws: EncodingError.self) {
            try CompactJSONEncoder().encode(Outer(counters: [Counter(total: 1), Counter(total: UInt64(Int64.max) + 1)]))
        }
        guard case .invalidValue(_, let context) = error else { return }
        #expect(context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue } == ["counters", "1", "total"])
    }

    @Test("keys sort as JSONEncoder sorts them on Linux: as bytes")
    func keyOrder() throws {
        let keys = ["c2", "c10", "c1", "B", "a", "A", "_x", "x-1", "x.1", "x1", "p050", "p50", "p9", "", "é", "z"]
        let counts = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        try Self.expectSame(counts)
        let many = Dictionary(uniqueKeysWithValues: (0..<2000).map { ("consumer-\($0 * 7919 % 2000)", $0) })
        try Self.expectSame(many)
        #expect(try Self.ours(["c2": 0, "c10": 1, "a": 2, "B": 3]) == #"{"B":3,"a":2,"c10":1,"c2":0}"#)
    }
}
