import ConsumerManager
import DataModel
import Foundation
import Testing
import TestSupport

@testable import SpecFiles

@Suite("YAML")
struct YAMLParserTests {
    @Test("block and flow styles, core-schema scalars, quoted strings stay strings")
    func scalarsAndCollections() throws {
        let text = """
            name: trades
            topics: [trades, "quotes"]
            batch:
              max_records: 500
              max_wait_ms: 0x10
            ratio: 2.5
            on: true
            off: 'false'
            nothing: ~
            empty:
            text: |
              two
              lines
            """
        let documents = try YAMLParser.parseDocuments(text)
        let expected: Value = .object(Value.Object([
            "name": "trades", "topics": .array(["trades", "quotes"]),
            "batch": .object(Value.Object(["max_records": .int(500), "max_wait_ms": .int(16)])),
            "ratio": .double(2.5), "on": .bool(true), "off": "false", "nothing": .null, "empty": .null,
            "text": "two\nlines",  // clip chomping; the text has no final line break
        ]))
        #expect(documents == [expected])
    }

    @Test("several documents; errors carry the line; aliases, duplicate keys and deep nesting are refused")
    func documentsAndRefusals() throws {
        #expect(try YAMLParser.parseDocuments("a: 1\n---\nb: 2\n").count == 2)
        #expect(throws: YAMLParser.SyntaxError.self) { try YAMLParser.parseDocuments("a: &x 1\nb: *x\n") }
        #expect(throws: YAMLParser.SyntaxError.self) { try YAMLParser.parseDocuments("a: 1\na: 2\n") }
        #expect(throws: YAMLParser.SyntaxError.self) { try YAMLParser.parseDocuments(String(repeating: "[", count: 100)) }
        do {
            _ = try YAMLParser.parseDocuments("a: 1\n  b: [\n")
            Issue.record("accepted broken YAML")
        } catch {
            #expect(error.line >= 2, "\(error)")
        }
    }
}

@Suite("Spec files and plans")
struct SpecFilesTests {
    @Test("a directory of JSON and YAML files: one spec, lists, {consumers: [...]}, documents")
    func loadsADirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try #"{"name": "a", "topics": ["t"]}"#.write(toFile: "\(directory.path)/a.json", atomically: true, encoding: .utf8)
        try "- name: b\n  topics: [t]\n- name: c\n  topic_pattern: '^t.*'\n".write(toFile: "\(directory.path)/bc.yaml", atomically: true, encoding: .utf8)
        try "consumers:\n  - name: d\n    topics: [t]\n---\nname: e\ntopics: [t]\nbatch: {max_records: 10}\n"
            .write(toFile: "\(directory.path)/de.yml", atomically: true, encoding: .utf8)
        try "not a spec".write(toFile: "\(directory.path)/README.md", atomically: true, encoding: .utf8)
        let specs = try SpecFiles.load(directory.path)
        #expect(specs.map(\.name) == ["a", "b", "c", "d", "e"])
        #expect(specs.last?.batch.maxRecords == 10)
    }

    @Test("errors name the file, the consumer and the field; duplicate names across files are refused")
    func errorsNameTheField() throws {
        func failure(_ text: String, file: String = "specs.yaml") -> String {
            do {
                _ = try SpecFiles.specs(in: text, file: file)
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(failure("name: x\ntopics: [t]\nbatch: {max_records: -1}\n") == "specs.yaml: consumer 'x': batch.max_records: must be between 1 and 1000000")
        #expect(failure("name: x\ntopics: [t]\nbatch: {max_record: 5}\n").contains("batch.max_record"))
        #expect(failure("name: x\ntopics: [t]\n---\n- 5\n").contains("document 2"))
        #expect(failure("{\"name\": ", file: "x.json").hasPrefix("x.json: not valid JSON"))
        #expect(failure("name: [\n").hasPrefix("specs.yaml: not valid YAML: line"))

        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try "name: a\ntopics: [t]\n".write(toFile: "\(directory.path)/1.yaml", atomically: true, encoding: .utf8)
        try "name: a\ntopics: [u]\n".write(toFile: "\(directory.path)/2.yaml", atomically: true, encoding: .utf8)
        #expect(throws: SpecFiles.LoadError.self) { try SpecFiles.load(directory.path) }
    }

    @Test("a plan creates, updates (naming the fields), keeps, and with prune deletes")
    func plan() throws {
        func spec(_ json: String) throws -> ConsumerSpec { try StrictJSON.decode(ConsumerSpec.self, from: Array(json.utf8)) }
        let current = [
            try spec(#"{"name": "same", "topics": ["t"]}"#),
            try spec(#"{"name": "changed", "topics": ["t"]}"#),
            try spec(#"{"name": "gone", "topics": ["t"]}"#),
            try spec(#"{"name": "secret", "topics": ["t"], "kafka": {"sasl.password": "********", "sasl.username": "u", "sasl.mechanism": "PLAIN", "security.protocol": "sasl_ssl"}}"#),
        ]
        let desired = [
            try spec(#"{"name": "same", "topics": ["t"]}"#),
            try spec(#"{"name": "changed", "topics": ["u"], "batch": {"max_records": 5}}"#),
            try spec(#"{"name": "new", "topics": ["t"]}"#),
            try spec(#"{"name": "secret", "topics": ["t"], "kafka": {"sasl.password": "real", "sasl.username": "u", "sasl.mechanism": "PLAIN", "security.protocol": "sasl_ssl"}}"#),
        ]
        let plan = SpecPlan(desired: desired, current: current, prune: true, currentIsRedacted: true)
        let actions = Dictionary(uniqueKeysWithValues: plan.steps.map { ($0.name, $0.action) })
        #expect(actions == ["same": .unchanged, "changed": .update, "new": .create, "gone": .delete, "secret": .unchanged])
        #expect(plan.steps.first { $0.name == "changed" }?.changedFields == ["batch", "topics"])
        #expect(plan.summary == "1 to create, 1 to update, 2 unchanged, 1 to delete")
        let keep = SpecPlan(desired: desired, current: current, prune: false, currentIsRedacted: true)
        #expect(keep.count(.delete) == 0)
    }
}
