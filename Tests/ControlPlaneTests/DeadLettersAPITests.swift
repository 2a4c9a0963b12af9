import ConsumerManager
import Foundation
import HTTPServer
import Testing
import TestSupport

@testable import ControlPlane

@Suite("Dead-letter API")
struct DeadLettersAPITests {
    private func written(_ fixture: PlaneFixture, _ name: String) -> [String] {
        let text = (try? String(contentsOfFile: "\(fixture.directory.path)/sinks/\(name).jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (object?["value"] as? [String: Any])?["price"].map { "\($0)" }
        }
    }

    @Test("list dead letters without a group; redrive after a fix reaches the sink once; a second redrive sends nothing")
    func listAndRedrive() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        let topic = uniqueName("poison")
        try fixture.cluster.createTopic(topic, partitions: 1)
        try fixture.cluster.createTopic("\(topic).dlq", partitions: 1)
        func spec(priceType: String) -> String {
            fixture.spec(
                "poison", topic: topic,
                extra: #","dead_letter":{"topic":"{topic}.dlq"},"validation":{"schema":{"type":"object","properties":{"price":{"type":"\#(priceType)"}}}}"#)
        }
        #expect(await fixture.request(.post, "/consumers", json: spec(priceType: "number")).status == 201)
        // Two good records and three with a string price, which validation sends to the dead-letter topic.
        let values = [#"{"price":1}"#, #"{"price":"2"}"#, #"{"price":"3"}"#, #"{"price":4}"#, #"{"price":"5"}"#]
        try await offPool { [bootstrap = fixture.cluster.bootstrapServers] in
            try Kcat.produce(values, topic: topic, bootstrap: bootstrap, partition: 0)
        }
        #expect(await eventuallyAsync { written(fixture, "poison").count == 2 })
        #expect(await eventuallyAsync {
            await fixture.request(.get, "/consumers/poison/dead-letters").json["count"] as? Int == 3
        })

        let page = await fixture.request(.get, "/consumers/poison/dead-letters", query: ["limit": "2"])
        #expect(page.status == 200, "\(page.text)")
        let records = try #require(page.json["records"] as? [[String: Any]])
        #expect(records.count == 2)
        let first = records[0]
        #expect(first["stage"] as? String == "validation")
        #expect(first["error_type"] as? String == "type_mismatch")
        #expect((first["value"] as? [String: Any])?["data"] as? String == #"{"price":"2"}"#)
        #expect((first["original"] as? [String: Any])?["offset"] as? Int == 1)
        #expect(page.json["next"] as? [[String: Any]] != nil && (page.json["next"] as? [[String: Any]])?.first?["offset"] as? Int == 2)
        // A second look from where the page ended: the last one.
        let rest = await fixture.request(.get, "/consumers/poison/dead-letters", query: ["from": "2"])
        #expect((rest.json["records"] as? [[String: Any]])?.map { ($0["original"] as? [String: Any])?["offset"] as? Int } == [4])
        #expect((rest.json["next"] as? [Any])?.isEmpty == true)

        // The fix: strings are prices too. Then the three go back to the topic, once.
        #expect(await fixture.request(.put, "/consumers/poison", json: spec(priceType: "string")).status == 200)
        // The new spec runs in the consumer's next run: redriven before it, they would fail again.
        #expect(await eventuallyAsync {
            let status = await fixture.request(.get, "/consumers/poison/status").json
            return status["generation"] as? Int == 2 && status["state"] as? String == "running"
        })
        let redrive = await fixture.request(.post, "/consumers/poison/dead-letters/redrive", json: #"{"error_type":"type_mismatch"}"#)
        #expect(redrive.status == 200, "\(redrive.text)")
        #expect(redrive.json["matched"] as? Int == 3 && redrive.json["redriven"] as? Int == 3, "\(redrive.text)")
        #expect(await eventuallyAsync { written(fixture, "poison").count == 5 })
        let again = await fixture.request(.post, "/consumers/poison/dead-letters/redrive", json: "{}")
        #expect(again.json["redriven"] as? Int == 0 && again.json["already_redriven"] as? Int == 3, "\(again.text)")
        // Nothing more arrives: the consumer has read its topic to the end.
        #expect(await eventuallyAsync {
            let status = await fixture.request(.get, "/consumers/poison/status").json
            return status["lag_total"] as? Int == 0
        })
        #expect(written(fixture, "poison").sorted() == ["1", "2", "3", "4", "5"])

        // Errors name the field.
        let bad = await fixture.request(.post, "/consumers/poison/dead-letters/redrive", json: #"{"from_offset":5,"to_offset":1}"#)
        #expect(bad.status == 400 && bad.error["field"] as? String == "to_offset", "\(bad.text)")
        let badQuery = await fixture.request(.get, "/consumers/poison/dead-letters", query: ["limit": "0"])
        #expect(badQuery.status == 400 && badQuery.error["field"] as? String == "limit")
        #expect(await fixture.request(.post, "/consumers", json: fixture.spec("plain", topic: topic, autostart: false)).status == 201)
        #expect(await fixture.request(.get, "/consumers/plain/dead-letters").status == 409)
    }
}
