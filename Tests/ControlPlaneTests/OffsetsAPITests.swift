import ConsumerManager
import Foundation
import HTTPServer
import Testing
import TestSupport

@testable import ControlPlane

@Suite("Offsets API")
struct OffsetsAPITests {
    /// The `i` of every line the file sink holds, in order.
    private func written(_ fixture: PlaneFixture, _ name: String) -> [Int] {
        let path = "\(fixture.directory.path)/sinks/\(name).jsonl"
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (object?["value"] as? [String: Any])?["i"] as? Int
        }
    }

    private func partitions(_ reply: PlaneFixture.Reply) -> [[String: Any]] {
        reply.json["partitions"] as? [[String: Any]] ?? []
    }

    @Test("stop, reset to an offset, start: consumption resumes exactly there and the group's offset moves before anything is read")
    func resetResumesThere() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        let topic = uniqueName("reset")
        try fixture.cluster.createTopic(topic, partitions: 1)
        try await offPool { [bootstrap = fixture.cluster.bootstrapServers] in
            try Kcat.produce((0..<20).map { #"{"i":\#($0)}"# }, topic: topic, bootstrap: bootstrap, partition: 0)
        }
        #expect(await fixture.request(.post, "/consumers", json: fixture.spec("reset", topic: topic)).status == 201)
        #expect(await eventuallyAsync {
            let reply = await fixture.request(.get, "/consumers/reset/offsets")
            // The position comes with the run's next progress refresh.
            return self.partitions(reply).first?["committed_offset"] as? Int == 20 && self.partitions(reply).first?["position"] as? Int == 20
        })
        let running = await fixture.request(.get, "/consumers/reset/offsets")
        #expect(running.status == 200, "\(running.text)")
        #expect(running.json["lag_total"] as? Int == 0)
        #expect(partitions(running).first?["position"] as? Int == 20, "\(running.text)")
        #expect(partitions(running).first?["high_watermark"] as? Int == 20)

        // Only a stopped consumer's offsets can change.
        let refused = await fixture.request(.patch, "/consumers/reset/offsets", json: #"{"reset_to":"earliest"}"#)
        #expect(refused.status == 409, "\(refused.text)")
        #expect(refused.error["code"] as? String == "conflict")

        #expect(await fixture.request(.post, "/consumers/reset/stop", query: ["wait": "20"]).status == 200)
        let body = #"{"offsets":[{"topic":"\#(topic)","partition":0,"offset":15}]}"#
        let reset = await fixture.request(.patch, "/consumers/reset/offsets", json: body)
        #expect(reset.status == 200, "\(reset.text)")
        #expect(partitions(reset).first?["pending_offset"] as? Int == 15, "\(reset.text)")
        #expect(partitions(reset).first?["committed_offset"] as? Int == 20, "applied by the next run, not before")
        #expect((reset.json["pending_reset"] as? [String: Any])?["requested"] as? String == "explicit offsets")

        #expect(await fixture.request(.post, "/consumers/reset/start", query: ["wait": "20"]).status == 200)
        #expect(await eventuallyAsync { written(fixture, "reset").count == 25 })
        #expect(written(fixture, "reset") == Array(0..<20) + Array(15..<20), "records 15 to 19 read again, nothing else")
        #expect(await eventuallyAsync {
            let reply = await fixture.request(.get, "/consumers/reset/offsets")
            return self.partitions(reply).first?["committed_offset"] as? Int == 20 && reply.json["pending_reset"] is NSNull
        })

        // Reset to the log end with nothing new: the group's offset is the
        // reset's at once, though no record is read (committed by the member).
        #expect(await fixture.request(.post, "/consumers/reset/stop", query: ["wait": "20"]).status == 200)
        #expect(await fixture.request(.patch, "/consumers/reset/offsets", json: #"{"reset_to":"earliest"}"#).status == 200)
        #expect(await fixture.request(.post, "/consumers/reset/start", query: ["wait": "20"]).status == 200)
        #expect(await eventuallyAsync { written(fixture, "reset").count == 45 })
        #expect(await fixture.request(.post, "/consumers/reset/stop", query: ["wait": "20"]).status == 200)
        #expect(await fixture.request(.patch, "/consumers/reset/offsets", json: #"{"reset_to":"latest"}"#).status == 200)
        try await offPool { [bootstrap = fixture.cluster.bootstrapServers] in
            try Kcat.produce((20..<22).map { #"{"i":\#($0)}"# }, topic: topic, bootstrap: bootstrap, partition: 0)
        }
        // "latest" was resolved when asked (offset 20): the two new records are read.
        #expect(await fixture.request(.post, "/consumers/reset/start", query: ["wait": "20"]).status == 200)
        #expect(await eventuallyAsync { written(fixture, "reset").count == 47 })
        #expect(Array(written(fixture, "reset").suffix(2)) == [20, 21])
    }

    @Test("a pending reset survives a server restart")
    func pendingResetIsPersisted() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        let topic = uniqueName("persisted")
        try fixture.cluster.createTopic(topic, partitions: 2)
        try await offPool { [bootstrap = fixture.cluster.bootstrapServers] in
            try Kcat.produce((0..<4).map { #"{"i":\#($0)}"# }, topic: topic, bootstrap: bootstrap, partition: 1)
        }
        #expect(await fixture.request(.post, "/consumers", json: fixture.spec("kept", topic: topic, autostart: false)).status == 201)
        let body = #"{"offsets":[{"topic":"\#(topic)","partition":1,"offset":3}]}"#
        #expect(await fixture.request(.patch, "/consumers/kept/offsets", json: body).status == 200)
        let stored = try String(contentsOfFile: "\(fixture.directory.path)/consumers/kept.json", encoding: .utf8)
        #expect(stored.contains("offset_reset"), "\(stored)")

        let restarted = try ConsumerManager(
            configuration: fixture.manager.configuration, metrics: ConsumerMetrics(registry: .init()), logger: testLogger())
        restarted.restore()
        let offsets = try await offPool { try restarted.offsets(of: "kept") }
        #expect(offsets.pendingReset?.offsets.map(\.offset) == [3])
        #expect(offsets.partitions.first { $0.partition == 1 }?.pendingOffset == 3)
        #expect(offsets.partitions.first { $0.partition == 0 }?.pendingOffset == nil)
    }

    @Test("bad reset requests are 4xx naming the field; sinks that keep their own offsets refuse")
    func badRequests() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        let topic = uniqueName("bad")
        try fixture.cluster.createTopic(topic, partitions: 1)
        #expect(await fixture.request(.post, "/consumers", json: fixture.spec("bad", topic: topic, autostart: false)).status == 201)
        func check(_ body: String, _ status: Int, field: String?, _ comment: Comment? = nil) async {
            let reply = await fixture.request(.patch, "/consumers/bad/offsets", json: body)
            #expect(reply.status == status, "\(body): \(reply.text)")
            #expect(reply.error["field"] as? String == field, "\(body): \(reply.text)")
        }
        await check(#"{}"#, 400, field: "reset_to")
        await check(#"{"reset_to":"yesterday"}"#, 400, field: "reset_to")
        await check(#"{"reset_to":{"timestamp_ms":-1}}"#, 400, field: "reset_to.timestamp_ms")
        await check(#"{"reset_to":{"timestamp":5}}"#, 400, field: "reset_to.timestamp")
        await check(#"{"reset_to":"earliest","offsets":[]}"#, 400, field: "reset_to")
        await check(#"{"offsets":[]}"#, 400, field: "offsets")
        await check(#"{"offsets":[{"topic":"\#(topic)","partition":0,"offset":-2}]}"#, 400, field: "offsets[0].offset")
        await check(#"{"offsets":[{"topic":"\#(topic)","partition":0,"offset":0},{"topic":"\#(topic)","partition":0,"offset":0}]}"#, 400, field: "offsets[1]")
        await check(#"{"offsets":[{"topic":"\#(topic)","partition":7,"offset":0}]}"#, 400, field: "offsets[0]")
        await check(#"{"offsets":[{"topic":"\#(topic)","partition":0,"offset":5}]}"#, 400, field: "offsets[0].offset", "beyond the log end")
        #expect(await fixture.request(.patch, "/consumers/nope/offsets", json: #"{"reset_to":"latest"}"#).status == 404)
        #expect(await fixture.request(.get, "/consumers/nope/offsets").status == 404)

        let redis = fixture.spec("exact", topic: topic, autostart: false, extra: #","sink":{"type":"redis","url":"redis://127.0.0.1:1","stream":"s"}"#)
        #expect(await fixture.request(.post, "/consumers", json: redis).status == 201)
        let refused = await fixture.request(.patch, "/consumers/exact/offsets", json: #"{"reset_to":"earliest"}"#)
        #expect(refused.status == 409, "\(refused.text)")
        #expect((refused.error["message"] as? String)?.contains("keeps its own offsets") == true)
    }
}
