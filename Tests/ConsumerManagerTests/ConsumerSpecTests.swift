import DataModel
import ConsumerManager
import Foundation
import Testing

private func decode(_ json: String) throws(StrictJSON.Failure) -> ConsumerSpec {
    try StrictJSON.decode(ConsumerSpec.self, from: Array(json.utf8))
}

/// The field a spec is rejected for, whether by decoding or by validation.
private func rejectedField(_ json: String) -> String? {
    do {
        try decode(json).validate()
        return nil
    } catch let failure as StrictJSON.Failure {
        return failure.field ?? "<json>"
    } catch let error as ConsumerManagerError {
        return error.field
    } catch {
        return "<other>"
    }
}

@Suite("ConsumerSpec decoding and validation")
struct ConsumerSpecTests {
    @Test("a minimal spec gets the documented defaults")
    func defaults() throws {
        let spec = try decode(#"{"name": "trades", "topics": ["market.trades"]}"#)
        try spec.validate()
        #expect(spec.groupID == "consumerd-trades")
        #expect(spec.format.type == .json)
        #expect(spec.batch == .init(maxRecords: 1000, maxWaitMilliseconds: 1000, maxBytes: 16 << 20))
        #expect(spec.sink == .file("trades.jsonl"))
        #expect(spec.restart.policy == .onFailure && spec.autostart)
        #expect(spec.kafka.isEmpty)
        // One default, whether the sink or only its path is left out.
        let fileOnly = try decode(#"{"name": "trades", "topics": ["market.trades"], "sink": {"type": "file"}}"#)
        try fileOnly.validate()
        #expect(fileOnly.sink == .file("trades.jsonl"))
    }

    @Test("the issue's example spec round-trips through JSON")
    func roundTrip() throws {
        let spec = try decode(#"""
            {"name": "trades", "topics": ["market.trades"], "group_id": "consumerd-trades", "format": {"type": "json"},
             "batch": {"max_records": 1000, "max_wait_ms": 1000}, "sink": {"type": "file", "path": "trades.jsonl"},
             "kafka": {"auto.offset.reset": "earliest", "fetch.min.bytes": 1, "check.crcs": true}, "autostart": true}
            """#)
        try spec.validate()
        #expect(spec.kafka == ["auto.offset.reset": "earliest", "fetch.min.bytes": "1", "check.crcs": "true"])
        let again = try decode(String(decoding: try JSONEncoder().encode(spec), as: UTF8.self))
        #expect(again == spec)
    }

    @Test("errors name the offending field", arguments: [
        (#"{"topics": ["a"]}"#, "name"),
        (#"{"name": "a", "topics": ["a"], "batch": {"max_record": 5}}"#, "batch.max_record"),
        (#"{"name": "a", "topics": ["a"], "batch": {"max_records": "many"}}"#, "batch.max_records"),
        (#"{"name": "a", "topics": ["a"], "batch": {"max_records": 0}}"#, "batch.max_records"),
        (#"{"name": "a", "topics": ["a"], "batch": {"max_wait_ms": 9999999}}"#, "batch.max_wait_ms"),
        (#"{"name": "a", "topics": ["a"], "format": {"type": "xml"}}"#, "format.type"),
        (#"{"name": "a", "topics": ["ok", "not ok"]}"#, "topics[1]"),
        (#"{"name": "a", "topics": ["x", "x"]}"#, "topics[1]"),
        (#"{"name": "a"}"#, "topics"),
        (#"{"name": "a", "topics": []}"#, "topics"),
        (#"{"name": "a", "topics": ["a"], "topic_pattern": "^a"}"#, "topic_pattern"),
        (#"{"name": "a", "topic_pattern": "market.*"}"#, "topic_pattern"),
        (#"{"name": "a", "topic_pattern": "^market("}"#, "topic_pattern"),
        (#"{"name": "-bad", "topics": ["a"]}"#, "name"),
        (#"{"name": "a/b", "topics": ["a"]}"#, "name"),
        (#"{"name": "a", "topics": ["a"], "group_id": ""}"#, "group_id"),
        (#"{"name": "a", "topics": ["a"], "kafka": {"enable.auto.commit": "true"}}"#, "kafka.enable.auto.commit"),
        (#"{"name": "a", "topics": ["a"], "kafka": {"bootstrap.servers": "evil:9092"}}"#, "kafka.bootstrap.servers"),
        (#"{"name": "a", "topics": ["a"], "kafka": {"plugin.library.paths": "/tmp/x.so"}}"#, "kafka.plugin.library.paths"),
        (#"{"name": "a", "topics": ["a"], "kafka": {"sasl.kerberos.kinit.cmd": "rm -rf /"}}"#, "kafka.sasl.kerberos.kinit.cmd"),
        (#"{"name": "a", "topics": ["a"], "kafka": {"ssl.ca.location": "/etc/shadow"}}"#, "kafka.ssl.ca.location"),
        (#"{"name": "a", "topics": ["a"], "kafka": {"session.timeout.ms": "soon"}}"#, "kafka.session.timeout.ms"),
        (#"{"name": "a", "topics": ["a"], "kafka": {"fetch.min.bytes": 1.5}}"#, "kafka.fetch.min.bytes"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "file", "path": "../escape.jsonl"}}"#, "sink.path"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "file", "path": "/etc/passwd"}}"#, "sink.path"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "file", "path": "dir/.hidden"}}"#, "sink.path"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "file", "path": "a//b"}}"#, "sink.path"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "file", "path": ""}}"#, "sink.path"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "stdout", "path": "x"}}"#, "sink.path"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "s3"}}"#, "sink.type"),
        (#"{"name": "a", "topics": ["a"], "restart": {"policy": "always"}}"#, "restart.policy"),
        (#"{"name": "a", "topics": ["a"], "restart": {"initial_backoff_ms": 5}}"#, "restart.initial_backoff_ms"),
        (#"{"name": "a", "topics": ["a"], "restart": {"initial_backoff_ms": 5000, "max_backoff_ms": 1000}}"#, "restart.max_backoff_ms"),
        (#"{"name": "a", "topics": ["a"], "surprise": 1}"#, "surprise"),
        (#"{"name": "a", "topics": "a"}"#, "topics"),
        (#"{"name": "a", "topics": ["a"], "topic_pattern": null}"#, "topic_pattern"),
        (#"{"name": "a", "topics": ["a"], "batch": null}"#, "batch"),
        (#"{"name": "a", "topics": ["a"], "restart": {"policy": null}}"#, "restart.policy"),
        (#"{"name": "start-all", "topics": ["a"]}"#, "name"),
        (#"{"name": "a", "topics": ["a"], "batch": {"max_bytes": 104857600}}"#, "batch.max_bytes"),
        (#"{"name": "a", "topics": ["a"], "kafka": {"queued.max.messages.kbytes": 2000000}}"#, "kafka.queued.max.messages.kbytes"),
        (#"{"name": "a", "topics": ["a"], "kafka": {"fetch.max.bytes": "lots"}}"#, "kafka.fetch.max.bytes"),
        (#"[1, 2]"#, "<json>"),
        (#"{"name": "a", "topics": ["a"]"#, "<json>"),
        (#"{"name": "a", "topics": ["a"], "batch": {"max_records": 10.5}}"#, "batch.max_records"),
        (#"{"name": "a", "topics": ["a"], "format": {"type": "avro"}}"#, "format.schema_registry"),
        (#"{"name": "a", "topics": ["a"], "format": {"type": "avro", "schema_registry": {"url": "ftp://x"}}}"#, "format.schema_registry.url"),
        (#"{"name": "a", "topics": ["a"], "format": {"type": "avro", "writer_schema": {"type": "nope"}}}"#, "format.writer_schema"),
        (#"{"name": "a", "topics": ["a"], "format": {"type": "json", "writer_schema": "int"}}"#, "format.writer_schema"),
        (#"{"name": "a", "topics": ["a"], "format": {"type": "string"}, "validation": {"schema": {}}}"#, "validation"),
        (#"{"name": "a", "topics": ["a"], "format": {"type": "bytes"}, "preset": "market-trades"}"#, "preset"),
        (#"{"name": "a", "topics": ["a"], "preset": "crypto"}"#, "preset"),
        (#"{"name": "a", "topics": ["a"], "validation": {"schema": {"type": "thing"}}}"#, "validation.schema.type"),
        (#"{"name": "a", "topics": ["a"], "validation": {"schema": {}, "on_invalid": "ignore"}}"#, "validation.on_invalid"),
        (#"{"name": "a", "topics": ["a"], "quality": {"rules": [{"check": "range", "field": "p"}]}}"#, "quality.rules[0]"),
        (#"{"name": "a", "topics": ["a"], "quality": {"rules": [{"check": "sometimes", "field": "p"}]}}"#, "quality.rules[0].check"),
        (#"{"name": "a", "topics": ["a"], "sequence": {"key_field": "s", "sequence_field": "n", "max_keys": 0}}"#, "sequence.max_keys"),
        (#"{"name": "a", "topics": ["a"], "transforms": [{"type": "rename", "from": "a"}]}"#, "transforms[0].to"),
        (#"{"name": "a", "topics": ["a"], "transforms": [{"type": "compute", "field": "x", "expression": "a +"}]}"#, "transforms[0].expression"),
        (#"{"name": "a", "topics": ["a"], "transforms": [{"type": "drop", "fields": ["a"], "where": {}}]}"#, "transforms[0].where"),
        (#"{"name": "a", "topics": ["a"], "transforms": [{"type": "filter", "where": {"field": "x", "op": "in", "value": 3}}]}"#, "transforms[0].where.value"),
        (#"{"name": "a", "topics": ["a"], "on_error": {"decode": "skip"}}"#, "on_error.decode"),
        (#"{"name": "a", "topics": ["a"], "on_error": {"decode": "dead_letter"}}"#, "on_error.decode"),
        (#"{"name": "a", "topics": ["a"], "validation": {"schema": {}, "on_invalid": "dead_letter"}}"#, "validation.on_invalid"),
        (#"{"name": "a", "topics": ["a"], "dead_letter": {"topic": "a"}}"#, "dead_letter.topic"),
        (#"{"name": "a", "topics": ["a"], "dead_letter": {"topic": "bad topic"}}"#, "dead_letter.topic"),
        (#"{"name": "a", "topics": ["a"], "dead_letter": {}}"#, "dead_letter.topic"),
        (#"{"name": "a", "topics": ["a"], "retry": {"initial_backoff_ms": 1}}"#, "retry.initial_backoff_ms"),
        (#"{"name": "a", "topics": ["a"], "retry": {"initial_backoff_ms": 500, "max_backoff_ms": 100}}"#, "retry.max_backoff_ms"),
        (#"{"name": "a", "topics": ["a"], "retry": {"on_exhausted": "panic"}}"#, "retry.on_exhausted"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "kafka"}}"#, "sink.topic"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "kafka", "topic": "a"}}"#, "sink.topic"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "kafka", "topic": "b", "delivery": "twice"}}"#, "sink.delivery"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "postgresql", "url": "postgresql://h/db"}}"#, "sink.table"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "postgresql", "url": "postgresql://h/db", "table": "t", "mode": "columns", "create_table": true}}"#, "sink.columns"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "postgresql", "url": "postgresql://u:********@h/db", "table": "t"}}"#, "sink"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "http", "url": "file:///etc/passwd"}}"#, "sink.url"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "http", "url": "http://h", "retries": 3}}"#, "sink.retries"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "redis", "url": "redis://h", "mode": "aggregate"}}"#, "sink.key_field"),
        (#"{"name": "a", "topics": ["a"], "sink": {"type": "s3", "bucket": "b"}}"#, "sink.type"),
    ] as [(String, String)])
    func fieldErrors(json: String, field: String) {
        #expect(rejectedField(json) == field)
    }

    @Test("a name longer than 64 characters is refused")
    func longName() {
        #expect(rejectedField(#"{"name": "\#(String(repeating: "n", count: 65))", "topics": ["a"]}"#) == "name")
        #expect(rejectedField(#"{"name": "\#(String(repeating: "n", count: 64))", "topics": ["a"]}"#) == nil)
    }

    @Test("every preset decodes, compiles, and is overridden section by section")
    func presets() throws {
        for preset in Preset.allCases {
            let spec = try decode(#"{"name": "p", "topics": ["t"], "preset": "\#(preset.rawValue)"}"#)
            try spec.validate()
            #expect(spec.effectiveRecordPath.validation != nil && spec.effectiveRecordPath.transforms?.isEmpty == false, "\(preset)")
        }
        let custom = try decode(#"""
            {"name": "p", "topics": ["t"], "preset": "market-trades", "quality": {"rules": [{"check": "not_null", "field": "x"}]}}
            """#)
        #expect(custom.effectiveRecordPath.quality?.rules.map(\.field) == ["x"], "the spec's section replaces the preset's")
        #expect(custom.effectiveRecordPath.sequence?.keyField == "symbol", "other sections come from the preset")
        #expect(custom.recordPath.sequence == nil, "the stored spec keeps only what was given")
    }

    @Test("a schema registry password is a secret: masked, restored, and never accepted as the mask itself")
    func registrySecret() throws {
        let stored = try decode(#"{"name": "a", "topics": ["a"], "format": {"type": "avro", "schema_registry": {"url": "http://r:8081", "username": "u", "password": "p4ss"}}}"#)
        try stored.validate()
        #expect(stored.redacted.format.schemaRegistry?.password == "********")
        #expect(stored.redacted.restoringSecrets(from: stored) == stored)
        #expect(rejectedField(#"{"name": "a", "topics": ["a"], "format": {"type": "avro", "schema_registry": {"url": "http://r", "username": "u", "password": "********"}}}"#)
            == "format.schema_registry.password")
    }

    @Test("secrets are masked for display and restored from the stored spec on update")
    func secrets() throws {
        let stored = try decode(#"{"name": "a", "topics": ["a"], "kafka": {"sasl.password": "hunter2", "sasl.username": "u"}}"#)
        let shown = stored.redacted
        #expect(shown.kafka == ["sasl.password": "********", "sasl.username": "u"])
        #expect(shown.restoringSecrets(from: stored) == stored)
        var changed = shown
        changed.kafka["sasl.password"] = "new-secret"
        #expect(changed.restoringSecrets(from: stored).kafka["sasl.password"] == "new-secret")
    }
}
