import DataModel
import Foundation
import Kafka
import Pipeline
import Testing

/// A record from JSON text at `offset` of partition 0.
private func record(_ json: String, offset: Int64 = 0) -> Record {
    let message = KafkaMessage(topic: "t", partition: 0, offset: offset, value: Array(json.utf8))
    return Record(message: message, value: .json(Array(json.utf8), multiline: false))
}

private func run(_ stage: any RecordStage, _ json: String, offset: Int64 = 0) -> (Disposition, Value?) {
    var r = record(json, offset: offset)
    let disposition = stage.process(&r)
    return (disposition, try? r.structuredValue())
}

private func parse(_ json: String) -> Value { try! JSONParser.parse(json) }

@Suite("JSON Schema validation")
struct JSONSchemaTests {
    static let schema = try! JSONSchema(parse(#"""
        {"type": "object", "required": ["symbol", "legs"], "additionalProperties": false,
         "properties": {
           "symbol": {"type": "string", "pattern": "^[A-Z]+$", "maxLength": 5},
           "side": {"enum": ["BUY", "SELL"]},
           "price": {"type": "number", "exclusiveMinimum": 0},
           "at": {"type": "string", "format": "date-time"},
           "legs": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["qty"],
                    "properties": {"qty": {"type": "integer", "minimum": 1}}}}}}
        """#))

    @Test("mismatches name the field", arguments: [
        (#"{"symbol":"AAPL","legs":[{"qty":"2"}]}"#, "type_mismatch", "legs[0].qty: expected integer, got string"),
        (#"{"symbol":"AAPL","legs":[{"qty":2},{}]}"#, "required_missing", "legs[1].qty: is required"),
        (#"{"legs":[{"qty":1}]}"#, "required_missing", "symbol: is required"),
        (#"{"symbol":"aapl","legs":[{"qty":1}]}"#, "pattern_mismatch", "symbol: does not match ^[A-Z]+$"),
        (#"{"symbol":"TOOLONG","legs":[{"qty":1}]}"#, "length", "symbol: longer than 5 characters"),
        (#"{"symbol":"A","side":"HOLD","legs":[{"qty":1}]}"#, "not_allowed", #"side: "HOLD" is not one of "BUY", "SELL""#),
        (#"{"symbol":"A","price":0,"legs":[{"qty":1}]}"#, "out_of_range", "price: 0.0 must be greater than 0.0"),
        (#"{"symbol":"A","at":"yesterday","legs":[{"qty":1}]}"#, "format_mismatch", "at: is not a valid date-time"),
        (#"{"symbol":"A","legs":[]}"#, "item_count", "legs: has fewer than 1 items"),
        (#"{"symbol":"A","legs":[{"qty":1}],"extra":1}"#, "additional_property", "extra: is not an allowed property"),
        (#"[]"#, "type_mismatch", "expected object, got array"),
    ] as [(String, String, String)])
    func mismatches(json: String, reason: String, message: String) {
        let mismatch = Self.schema.validate(parse(json))
        #expect(mismatch?.reason == reason)
        #expect(mismatch?.message == message)
    }

    @Test("conforming values pass; integral doubles are integers; decimals are numbers")
    func conforming() throws {
        #expect(Self.schema.validate(parse(#"{"symbol":"AAPL","side":"SELL","price":1.5,"at":"2025-11-23T17:19:34Z","legs":[{"qty":2.0}]}"#)) == nil)
        let prices = try JSONSchema(parse(#"{"type":"number","minimum":0}"#))
        #expect(prices.validate(.decimal("12.3400")) == nil)
        #expect(prices.validate(.decimal("-0.01"))?.reason == "out_of_range")
    }

    @Test("unsupported keywords and bad values are refused at registration with their path", arguments: [
        (#"{"properties": {"a": {"oneOf": []}}}"#, "properties.a.oneOf"),
        (#"{"type": "text"}"#, "type"),
        (#"{"minimum": "0"}"#, "minimum"),
        (#"{"pattern": "("}"#, "pattern"),
        (#"{"items": {"format": "email"}}"#, "items.format"),
    ] as [(String, String)])
    func refused(json: String, field: String) {
        let error = #expect(throws: SpecError.self) { try JSONSchema(parse(json)) }
        #expect(error?.field == field)
    }
}

@Suite("Quality, sequence and transform stages")
struct StageTests {
    @Test("quality rules: not_null, range, freshness; flag keeps and marks, drop and dead_letter turn away")
    func quality() throws {
        let fresh = CivilTime.formatTimestamp(micros: Int64(Date().timeIntervalSince1970 * 1e6))
        let rules: [QualitySpec.Rule] = [
            .init(check: .notNull, field: "symbol"), .init(check: .range, field: "price", min: 0, max: 100),
            .init(check: .freshness, field: "at", maxAgeSeconds: 60),
        ]
        let flagging = try QualityStage(QualitySpec(rules: rules, onViolation: .flag, flagField: "_q"))
        let (kept, value) = run(flagging, #"{"symbol":null,"price":200,"at":"2020-01-01T00:00:00Z"}"#)
        #expect(kept == .keep)
        #expect(value?[FieldPath("_q")!] == ["not_null_symbol", "range_price", "freshness_at"])
        #expect(run(flagging, #"{"symbol":"A","price":5,"at":"\#(fresh)"}"#).0 == .keep)
        #expect(flagging.violations == ["not_null_symbol": 1, "range_price": 1, "freshness_at": 1])
        let epoch = try QualityStage(QualitySpec(rules: [.init(check: .freshness, field: "ms", maxAgeSeconds: 60)], onViolation: .drop))
        #expect(run(epoch, #"{"ms":\#(Int64(Date().timeIntervalSince1970 * 1000))}"#).0 == .keep, "epoch milliseconds by default")
        #expect(run(epoch, #"{"ms":1000}"#).0 == .drop(reason: "freshness_ms"))
        let strict = try QualityStage(QualitySpec(rules: rules, onViolation: .deadLetter))
        guard case .deadLetter(let rejection) = run(strict, #"{"symbol":"A","price":-1,"at":"\#(fresh)"}"#).0 else {
            Issue.record("expected a dead letter")
            return
        }
        #expect(rejection.reason == "range_price" && rejection.message == "price = -1.0 is below 0.0")
    }

    @Test("sequence tracking: gaps, duplicates, out of order; never blocks; bounded keys")
    func sequence() throws {
        let stage = try SequenceStage(SequenceSpec(keyField: "s", sequenceField: "n", maxKeys: 10, dropDuplicates: true))
        let inputs = [("A", 1), ("A", 2), ("A", 5), ("A", 5), ("A", 3), ("B", 7), ("B", 8)]
        let dispositions = inputs.enumerated().map { index, item in
            run(stage, #"{"s":"\#(item.0)","n":\#(item.1)}"#, offset: Int64(index)).0
        }
        #expect(dispositions == [.keep, .keep, .keep, .drop(reason: "duplicate"), .keep, .keep, .keep])
        #expect(stage.statistics.gaps == 1 && stage.statistics.missing == 2)
        #expect(stage.statistics.duplicates == 1 && stage.statistics.outOfOrder == 1)
        #expect(stage.statistics.recentGaps.map(\.record.offset) == [2])
        #expect(run(stage, #"{"s":"A"}"#).0 == .keep)
        #expect(stage.statistics.unsequenced == 1)
        for key in 0..<100 { _ = run(stage, #"{"s":"k\#(key)","n":1}"#) }
        #expect(stage.statistics.trackedKeys <= 10, "at most max_keys are remembered")
    }

    @Test("transforms: the seed's total amount, processing time, time parts, rename, project, drop, filter, classify")
    func transforms() throws {
        let specs: [TransformSpec] = [
            .compute(field: "total_amount", expression: "round(price * quantity * (1 - coalesce(discount_applied, 0)), 2)"),
            .addProcessingTime(field: "processed_at"),
            .timeParts(field: "timestamp", hourField: "hour_of_day", dayOfWeekField: "day_of_week"),
            .rename(from: "user.id", to: "user_id"),
            .classify(field: "is_mobile", cases: [.init(when: parse(#"{"field":"device","op":"in","value":["mobile","tablet"]}"#), value: true)],
                      defaultValue: false),
            .drop(fields: ["device"]),
            .filter(condition: parse(#"{"all":[{"field":"price","op":">","value":0},{"not":{"field":"user_id","op":"starts_with","value":"bot"}}]}"#)),
        ]
        let stage = try TransformStage(specs, onError: .deadLetter)
        let (disposition, value) = run(stage, #"{"price":19.99,"quantity":3,"discount_applied":0.1,"timestamp":"2025-11-23T17:19:34Z","user":{"id":"u1"},"device":"tablet"}"#)
        #expect(disposition == .keep)
        let object = try #require(value?.objectValue)
        #expect(object["total_amount"] == .double(53.97))
        #expect(object["hour_of_day"] == 17 && object["day_of_week"] == 7, "2025-11-23 was a Sunday")
        #expect(object["user_id"] == "u1" && object["user"] == .object(.init()))
        #expect(object["is_mobile"] == true && object["device"] == nil)
        if case .timestamp(let micros, _, true)? = object["processed_at"] {
            #expect(abs(Double(micros) / 1e6 - Date().timeIntervalSince1970) < 5)
        } else {
            Issue.record("processed_at is not a timestamp")
        }
        #expect(run(stage, #"{"price":0,"quantity":1,"timestamp":"2025-11-23T00:00:00Z"}"#).0 == .drop(reason: "filtered"))
        guard case .deadLetter(let rejection) = run(stage, #"{"price":"x","quantity":1}"#).0 else {
            Issue.record("a compute on a string must be rejected")
            return
        }
        #expect(rejection.reason == "compute_failed")
        #expect(rejection.message.contains("price is not a number"))
        let projecting = try TransformStage([.project(fields: ["a", "b.c"])], onError: .fail)
        #expect(run(projecting, #"{"a":1,"b":{"c":2,"d":3},"e":4}"#).1 == parse(#"{"a":1,"b":{"c":2}}"#))
    }

    @Test("expressions: precedence, integers stay integers, errors point at the character")
    func expressions() throws {
        let record = parse(#"{"a":7,"b":2,"c":{"d":[1.5]}}"#)
        #expect(try Expression("a + b * 3").evaluate(record) == .int(13))
        #expect(try Expression("(a + b) * 3").evaluate(record) == .int(27))
        #expect(try Expression("a / b").evaluate(record) == .double(3.5))
        #expect(try Expression("-a % b").evaluate(record) == .int(-1))
        #expect(try Expression("c.d[0] * 2").evaluate(record) == .double(3))
        #expect(try Expression("max(a, b, 10) - min(a, b)").evaluate(record) == .int(8))
        #expect(try Expression("coalesce(missing, b)").evaluate(record) == .int(2))
        #expect(throws: Expression.Failure.self) { try Expression("a / 0").evaluate(record) }
        #expect(throws: Expression.Failure.self) { try Expression("missing + 1").evaluate(record) }
        for (text, message) in [("a +", "expected a number, field or '(' at character 4"), ("a + (b", "expected ')' at character 7"),
                                ("sqrt(a)", "unknown function 'sqrt'"), ("round()", "unexpected ')'"), ("a b", "unexpected 'b' at character 3")] {
            let error = #expect(throws: SpecError.self) { try Expression(text) }
            #expect(error?.message.contains(message) == true, "\(text): \(error?.message ?? "")")
        }
    }

    @Test("transform specs report errors by path")
    func transformErrors() {
        let error = #expect(throws: SpecError.self) {
            try TransformStage([.addProcessingTime(field: "ok"), .filter(condition: parse(#"{"all":[{"field":"a","op":"~"}]}"#))], onError: .fail)
        }
        #expect(error?.field == "[1].where.all[0].op")
    }
}

@Suite("RecordPath")
struct RecordPathUnitTests {
    @Test("counts each stage's records, passes tombstones, applies the decode policy")
    func counts() throws {
        let stages = try RecordPathSpec(
            validation: ValidationSpec(schema: parse(#"{"type":"object","required":["a"]}"#), onInvalid: .drop),
            transforms: [.filter(condition: parse(#"{"field":"a","op":"!=","value":0}"#))]
        ).makeStages(deadLetterAvailable: false)
        let path = RecordPath(decoder: JSONRecordDecoder(), decodePolicy: .deadLetter, stages: stages)
        func message(_ text: String?, _ offset: Int64) -> KafkaMessage {
            KafkaMessage(topic: "t", partition: 0, offset: offset, value: text.map { Array($0.utf8) })
        }
        var outcomes: [String] = []
        for (offset, text) in [#"{"a":1}"#, #"{"b":1}"#, #"{"a":0}"#, "{oops", nil].enumerated() {
            switch path.process(message(text, Int64(offset))) {
            case .keep: outcomes.append("keep")
            case .drop(_, let stage, let reason): outcomes.append("drop \(stage) \(reason)")
            case .deadLetter(_, let rejection): outcomes.append("dead_letter \(rejection.stage) \(rejection.reason)")
            case .fail(_, let error): outcomes.append("fail \(error)")
            }
        }
        #expect(outcomes == ["keep", "drop validation required_missing", "drop transform filtered", "dead_letter decode invalid_json", "keep"])
        #expect(path.counts.map(\.stage) == [.decode, .validation, .transform])
        #expect(path.counts[0].input == 5 && path.counts[0].kept == 4 && path.counts[0].total(.deadLettered) == 1)
        #expect(path.counts[1].input == 3, "the tombstone skips the stages")
        #expect(path.counts[2].input == 2 && path.counts[2].kept == 1)
        #expect(path.counts[0].lastError?.record?.offset == 3)
    }

    @Test("unset policies dead-letter with a dead-letter topic and fail without one")
    func defaults() throws {
        let spec = RecordPathSpec(validation: ValidationSpec(schema: parse(#"{"type":"object"}"#)))
        var bad = record("[1]")
        #expect(try spec.makeStages(deadLetterAvailable: true)[0].process(&bad) == .deadLetter(
            Rejection(stage: .validation, reason: "type_mismatch", message: "expected object, got array")))
        guard case .fail(let error) = try spec.makeStages(deadLetterAvailable: false)[0].process(&bad) else {
            Issue.record("expected fail")
            return
        }
        #expect(!error.isRetriable && error.reason == "type_mismatch")
    }
}
