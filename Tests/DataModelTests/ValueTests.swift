import DataModel
import Foundation
import Testing

@Suite("JSONParser and JSONWriter")
struct JSONParserWriterTests {
    @Test("numbers keep their kind: 64-bit integers, exact big integers, finite doubles")
    func numbers() throws {
        #expect(try JSONParser.parse("9223372036854775807") == .int(.max))
        #expect(try JSONParser.parse("-9223372036854775808") == .int(.min))
        #expect(try JSONParser.parse("92233720368547758070") == .decimal("92233720368547758070"))
        #expect(try JSONParser.parse("0.5") == .double(0.5))
        #expect(try JSONParser.parse("-1e3") == .double(-1000))
        #expect(throws: JSONSyntax.SyntaxError.self) { try JSONParser.parse("1e999") }
    }

    @Test("strings are unescaped, surrogate pairs joined, lone surrogates refused")
    func strings() throws {
        #expect(try JSONParser.parse(#""a\"b\\c\/\n\t\u00e9\ud83d\ude00""#) == .string("a\"b\\c/\n\té😀"))
        #expect(try JSONParser.parse(#""é ☃""#) == .string("é ☃"))
        for text in [#""\ud800""#, #""\udc00""#, #""\ud800\u0041""#] {
            #expect(throws: JSONSyntax.SyntaxError.self) { try JSONParser.parse(text) }
            // The validator agrees with the parser.
            #expect(throws: JSONSyntax.SyntaxError.self) { try JSONSyntax.validate(Array(text.utf8)) }
        }
    }

    @Test("object members keep their order; duplicates are refused or the last wins")
    func objects() throws {
        let value = try JSONParser.parse(#"{"z":1,"a":[true,null],"m":{"k":"v"}}"#)
        #expect(value.objectValue?.keys == ["z", "a", "m"])
        #expect(JSONWriter.string(value) == #"{"z":1,"a":[true,null],"m":{"k":"v"}}"#)
        let error = #expect(throws: JSONSyntax.SyntaxError.self) { try JSONParser.parse(#"{"a":1,"a":2}"#) }
        #expect(error?.reason == "duplicate key 'a'" && error?.offset == 7)
        #expect(try JSONParser.parse(#"{"a":1,"a":2}"#, duplicateKeys: .lastWins) == ["a": 2])
        // Large objects switch to a set; duplicates are still found.
        let many = (0..<40).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        #expect(throws: JSONSyntax.SyntaxError.self) { try JSONParser.parse("{\(many),\"k3\":0}") }
    }

    @Test("rejects what the validator rejects", arguments: ["", "{", "[1,]", "01", "tru", "{\"a\" 1}", "\"\u{01}\"", "[1] 2"])
    func invalid(text: String) {
        #expect(throws: JSONSyntax.SyntaxError.self) { try JSONParser.parse(text) }
        #expect(throws: JSONSyntax.SyntaxError.self) { try JSONSyntax.validate(Array(text.utf8)) }
    }

    @Test("nesting is bounded")
    func depth() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: JSONSyntax.SyntaxError.self) { try JSONParser.parse(deep) }
    }

    @Test("the Avro-to-JSON mapping: decimals as exact strings, bytes base64, dates, times, timestamps")
    func mapping() {
        let value: Value = .object(.init([
            .init("decimal", .decimal("-12.340")),
            .init("float", .float(0.1)),
            .init("double", .double(0.1)),
            .init("nan", .double(.nan)),
            .init("inf", .float(-.infinity)),
            .init("bytes", .bytes([0xff, 0x00, 0x41])),
            .init("date", .date(20_415)),
            .init("before_epoch", .date(-1)),
            .init("time_ms", .time(45_296_789_000, .milliseconds)),
            .init("time_us", .time(45_296_789_012, .microseconds)),
            .init("ts_ms", .timestamp(1_763_918_374_891_000, .milliseconds, utc: true)),
            .init("ts_us", .timestamp(-1, .microseconds, utc: true)),
            .init("local", .timestamp(0, .milliseconds, utc: false)),
        ]))
        #expect(JSONWriter.string(value) == """
            {"decimal":"-12.340","float":0.1,"double":0.1,"nan":"NaN","inf":"-Infinity","bytes":"/wBB",\
            "date":"2025-11-23","before_epoch":"1969-12-31","time_ms":"12:34:56.789","time_us":"12:34:56.789012",\
            "ts_ms":"2025-11-23T17:19:34.891Z","ts_us":"1969-12-31T23:59:59.999999Z","local":"1970-01-01T00:00:00.000"}
            """)
        // Foundation reads what we write.
        let text = JSONWriter.string(value)
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil)
    }

    @Test("control characters are escaped and the result parses back")
    func escaping() throws {
        let original = Value.string("line\nbreak \"quoted\" \u{01}\u{7f} tab\t é")
        #expect(try JSONParser.parse(JSONWriter.string(original)) == original)
    }
}

@Suite("ValueDecoder")
struct ValueDecoderTests {
    struct Settings: Decodable, Equatable {
        var count: Int
        var ratio: Double
        var name: String
        var tags: [String]
        var nested: Nested?
        struct Nested: Decodable, Equatable { var flag: Bool }
    }

    @Test("decodes Decodable types from a parsed value")
    func decodes() throws {
        let value = try JSONParser.parse(#"{"count":3,"ratio":1,"name":"n","tags":["a","b"],"nested":{"flag":true}}"#)
        let settings = try ValueDecoder().decode(Settings.self, from: value)
        #expect(settings == Settings(count: 3, ratio: 1, name: "n", tags: ["a", "b"], nested: .init(flag: true)))
    }

    @Test("errors name the field: a fraction is not an integer, an integer can overflow, null is not a string")
    func errors() {
        func failure(_ text: String) -> StrictJSON.Failure? {
            #expect(throws: StrictJSON.Failure.self) { try StrictJSON.decode(Settings.self, from: Array(text.utf8)) }
        }
        let base = #""ratio":1,"name":"n","tags":[]"#
        #expect(failure(#"{"count":10.5,\#(base)}"#) == .init(field: "count", message: "expected an integer, got number"))
        #expect(failure(#"{"count":1e999,\#(base)}"#)?.field == nil)
        #expect(failure(#"{"count":99999999999999999999,\#(base)}"#)?.field == "count")
        #expect(failure(#"{"count":1,"ratio":1,"name":null,"tags":[]}"#) == .init(field: "name", message: "must be a string, not null"))
        #expect(failure(#"{"count":1,"ratio":1,"name":"n","tags":[1]}"#)?.field == "tags[0]")
        #expect(failure(#"{"count":1,"ratio":1,"tags":[]}"#) == .init(field: "name", message: "is required"))
        #expect(failure("null")?.message == "the body must be a JSON object")
        #expect(failure("[]")?.message == "the body must be a JSON object")
        #expect(failure(#"{"count":1,"count":2}"#)?.message.contains("duplicate key 'count'") == true)
    }

    @Test("a Value member is taken whole, in order")
    func rawValue() throws {
        struct Holder: Decodable { var schema: Value }
        let holder = try ValueDecoder().decode(Holder.self, from: try JSONParser.parse(#"{"schema":{"b":1,"a":null}}"#))
        #expect(holder.schema.objectValue?.keys == ["b", "a"])
    }
}

@Suite("FieldPath")
struct FieldPathTests {
    @Test("parses members and indexes", arguments: [
        ("symbol", "symbol"), ("user_location.city", "user_location.city"), ("legs[0].qty", "legs[0].qty"), ("a[1][2]", "a[1][2]"),
    ])
    func parses(text: String, expected: String) throws {
        #expect(try #require(FieldPath(text)).description == expected)
    }

    @Test("rejects malformed paths", arguments: ["", ".a", "a.", "a..b", "[0]", "a[x]", "a[-1]", "a[0]b", "a b", "a]"])
    func rejects(text: String) {
        #expect(FieldPath(text) == nil)
    }

    @Test("reads, sets and removes nested values")
    func access() throws {
        var value: Value = ["legs": [["qty": 1], ["qty": 2]], "user": ["city": "Oslo"]]
        #expect(value[FieldPath("legs[1].qty")!] == .int(2))
        #expect(value[FieldPath("legs[2].qty")!] == nil)
        let set = value.set(.string("x"), at: FieldPath("new.deep")!)
        #expect(set)
        #expect(value[FieldPath("new.deep")!] == "x")
        let descended = value.set(1, at: FieldPath("user.city.zip")!)
        #expect(!descended, "cannot descend into a string")
        let removed = value.remove(at: FieldPath("user.city")!)
        #expect(removed == "Oslo")
        #expect(value[FieldPath("user")!] == .object(.init()))
    }
}

@Suite("CivilTime")
struct CivilTimeTests {
    @Test("parses RFC 3339 timestamps with zones and fractions", arguments: [
        ("1970-01-01T00:00:00Z", 0), ("2025-11-23T17:19:34.891Z", 1_763_918_374_891_000),
        ("2025-11-23T19:19:34.891+02:00", 1_763_918_374_891_000), ("2025-11-23 17:19:34.891123456", 1_763_918_374_891_123),
        ("2024-02-29", 1_709_164_800_000_000), ("1969-12-31T23:59:59.999999Z", -1),
    ])
    func parses(text: String, micros: Int64) {
        #expect(CivilTime.parseTimestamp(text) == micros)
    }

    @Test("formats every field zero-padded to its width", arguments: [
        (Int64(0), Value.TimePrecision.milliseconds, "1970-01-01T00:00:00.000Z"),
        (-1, .microseconds, "1969-12-31T23:59:59.999999Z"),
        (1_763_918_374_891_000, .milliseconds, "2025-11-23T17:19:34.891Z"),
        (-62_135_596_800_000_000 + 3_723_000_004, .microseconds, "0001-01-01T01:02:03.000004Z"),
        (253_402_300_800_000_000, .milliseconds, "10000-01-01T00:00:00.000Z"),
    ])
    func formats(micros: Int64, precision: Value.TimePrecision, text: String) {
        #expect(CivilTime.formatTimestamp(micros: micros, precision: precision) == text)
    }

    @Test("a time is written whatever its microseconds: hours go on past a day, a minus sign before midnight")
    func timesOutsideTheDay() {
        func time(_ micros: Int64) -> String {
            var out: [UInt8] = []
            CivilTime.appendTime(micros: micros, precision: .microseconds, to: &out)
            return String(decoding: out, as: UTF8.self)
        }
        #expect(time(3_723_000_004) == "01:02:03.000004")
        #expect(time(-1) == "-00:00:00.000001")
        #expect(time(.min) == "-2562047788:00:54.775808")
        #expect(time(.max) == "2562047788:00:54.775807")
    }

    @Test("formatted timestamps parse back to the same instant")
    func roundTrips() {
        // An odd step, so every field takes many values, small ones included.
        for micros in stride(from: -2_208_988_800_000_000 as Int64, through: 4_102_444_800_000_000, by: 7_777_777_777_777) {
            #expect(CivilTime.parseTimestamp(CivilTime.formatTimestamp(micros: micros, precision: .microseconds)) == micros)
        }
    }

    @Test("rejects impossible timestamps", arguments: ["2023-02-29", "2025-13-01", "2025-11-23T24:00:00Z", "2025-11-23T10:00", "x", "2025-11-23T10:00:00+2"])
    func rejects(text: String) {
        #expect(CivilTime.parseTimestamp(text) == nil)
    }

    @Test("day counts round-trip and weekdays are ISO (Monday = 0)")
    func days() {
        for days in stride(from: -800_000 as Int64, through: 800_000, by: 997) {
            let (year, month, day) = CivilTime.date(days: days)
            #expect(CivilTime.days(year: year, month: month, day: day) == days)
        }
        #expect(CivilTime.weekday(days: 0) == 3, "1970-01-01 was a Thursday")
        #expect(CivilTime.weekday(days: -1) == 2)
    }
}
