import ConsumerManager
import Foundation
import HTTPServer
import Testing
import TestSupport

@testable import ControlPlane

@Suite("REST API")
struct ControlPlaneTests {
    @Test("malformed requests get 4xx JSON errors naming the field")
    func errors() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        func check(_ reply: PlaneFixture.Reply, _ status: Int, _ code: String, field: String? = nil) {
            #expect(reply.status == status, "\(reply.text)")
            #expect(reply.error["code"] as? String == code, "\(reply.text)")
            #expect((reply.error["field"] as? String) == field)
            #expect(reply.error["message"] is String)
            #expect(reply.header("Content-Type") == "application/json")
        }
        check(await fixture.request(.post, "/consumers", json: "{\"name\": "), 400, "invalid_json")
        check(await fixture.request(.post, "/consumers", json: ""), 400, "invalid_json")
        check(await fixture.request(.post, "/consumers", json: "null"), 400, "invalid_json")
        check(await fixture.request(.post, "/consumers", json: "[]"), 400, "invalid_json")
        check(await fixture.request(.post, "/consumers", json: #"{"name":"a","topics":["t"],"batch":{"max_records":-1}}"#), 400, "invalid_spec", field: "batch.max_records")
        check(await fixture.request(.post, "/consumers", json: #"{"name":"a","topics":["t"],"kafka":{"group.id":"x"}}"#), 400, "invalid_spec", field: "kafka.group.id")
        // Specs that could never start: librdkafka checks these only when a client is created.
        check(await fixture.request(.post, "/consumers", json: #"{"name":"a","topics":["t"],"kafka":{"max.poll.interval.ms":"1"}}"#), 400, "invalid_spec", field: "kafka.max.poll.interval.ms")
        check(await fixture.request(.post, "/consumers", json: #"{"name":"a","topics":["t"],"kafka":{"sasl.mechanism":"BOGUS","security.protocol":"sasl_plaintext"}}"#), 400, "invalid_spec", field: "kafka.sasl.mechanism")
        check(await fixture.request(.post, "/consumers", json: #"{"name":"a","topics":["t"],"kafka":{"sasl.mechanisms":"GSSAPI","security.protocol":"sasl_plaintext"}}"#), 400, "invalid_spec", field: "kafka.sasl.mechanisms")
        check(await fixture.request(.post, "/consumers", json: #"{"name":"a","topics":["t"]}"#, contentType: "text/plain"), 415, "unsupported_media_type")
        check(await fixture.request(.get, "/consumers/nope"), 404, "consumer_not_found")
        check(await fixture.request(.get, "/nothing/here"), 404, "not_found")
        check(await fixture.request(.post, "/consumers/nope/start", query: ["wait": "soon"]), 400, "invalid_parameter", field: "wait")
        check(await fixture.request(.post, "/consumers/nope/start", query: ["wait": "301"]), 400, "invalid_parameter", field: "wait")
        check(await fixture.request(.put, "/consumers/bad%20name", json: "{}"), 400, "invalid_spec", field: "name")
        let notAllowed = await fixture.request(.delete, "/consumers")
        check(notAllowed, 405, "method_not_allowed")
        #expect(notAllowed.header("Allow") == "GET, HEAD, POST")

        #expect(await fixture.request(.post, "/consumers", json: fixture.spec("dup", topic: "t", autostart: false)).status == 201)
        check(await fixture.request(.post, "/consumers", json: fixture.spec("dup", topic: "t", autostart: false)), 409, "consumer_exists", field: "name")
        check(await fixture.request(.post, "/consumers/dup/pause"), 409, "conflict")
        check(await fixture.request(.put, "/consumers/dup", json: fixture.spec("other", topic: "t")), 400, "invalid_spec", field: "name")
    }

    @Test("create, inspect, lifecycle verbs with and without wait, delete")
    func lifecycle() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        let topic = uniqueName("orders")
        try fixture.cluster.createTopic(topic, partitions: 2)

        let created = await fixture.request(.post, "/consumers", json: fixture.spec("orders", topic: topic, autostart: false))
        #expect(created.status == 201)
        #expect(created.header("Location") == "/consumers/orders")
        #expect((created.json["spec"] as? [String: Any])?["group_id"] as? String == "consumerd-orders")
        #expect((created.json["status"] as? [String: Any])?["state"] as? String == "stopped")

        let started = await fixture.request(.post, "/consumers/orders/start", query: ["wait": "20"])
        #expect(started.status == 200 && started.json["state"] as? String == "running", "\(started.text)")
        let again = await fixture.request(.post, "/consumers/orders/start")
        #expect(again.status == 200, "start on a running consumer is a no-op")

        // Everything into partition 0: the other one never sees a record or a
        // commit, and its lag must still be known (0) for lag_total.
        try await offPool { [bootstrap = fixture.cluster.bootstrapServers] in
            try Kcat.produce((0..<10).map { #"{"i":\#($0)}"# }, topic: topic, bootstrap: bootstrap, partition: 0)
        }
        // The commit is asynchronous: the status shows it once its result is in.
        #expect(await eventuallyAsync {
            let status = await fixture.request(.get, "/consumers/orders/status").json
            let committed = (status["assignment"] as? [[String: Any]])?.compactMap { $0["committed_offset"] as? Int }.reduce(0, +)
            return (status["stats"] as? [String: Any])?["records_written"] as? Int == 10 && status["lag_total"] as? Int == 0
                && committed == 10
        })
        let status = await fixture.request(.get, "/consumers/orders/status").json
        let assignment = try #require(status["assignment"] as? [[String: Any]])
        #expect(assignment.count == 2)
        #expect(assignment.map { $0["committed_offset"] as? Int }.reduce(0) { $0 + ($1 ?? 0) } == 10)
        #expect(Set(assignment.flatMap { $0.keys }) == ["topic", "partition", "committed_offset", "position", "high_watermark", "lag", "paused"])

        let restarted = await fixture.request(.post, "/consumers/orders/restart", query: ["wait": "20"])
        #expect(restarted.status == 200 && restarted.json["generation"] as? Int == 2, "\(restarted.text)")
        let paused = await fixture.request(.post, "/consumers/orders/pause")
        #expect(paused.status == 202)
        let resumed = await fixture.request(.post, "/consumers/orders/resume", query: ["wait": "10"])
        #expect(resumed.status == 200 && resumed.json["state"] as? String == "running")

        let list = await fixture.request(.get, "/consumers").json
        #expect(list["count"] as? Int == 1)

        let stopAll = await fixture.request(.post, "/consumers/stop-all", query: ["wait": "20"])
        #expect(stopAll.status == 200, "\(stopAll.text)")
        let entry = try #require((stopAll.json["results"] as? [String: Any])?["orders"] as? [String: Any])
        #expect((entry["status"] as? [String: Any])?["state"] as? String == "stopped")

        #expect(await fixture.request(.delete, "/consumers/orders").status == 204)
        #expect(await fixture.request(.get, "/consumers/orders").status == 404)
    }

    @Test("health: stopped on purpose is healthy; a failed consumer makes readiness 503 by name")
    func health() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        fixture.manager.superviseOnce()
        #expect(await fixture.request(.get, "/health/live").status == 200)
        _ = await fixture.request(.post, "/consumers", json: fixture.spec("idle", topic: "t", autostart: false))
        #expect(await fixture.request(.get, "/health/ready").status == 200)

        // A regular file where the sink wants a directory: the run fails
        // while opening, before it is ever running.
        #expect(FileManager.default.createFile(atPath: "\(fixture.directory.path)/sinks/blocked", contents: Data()))
        let broken = await fixture.request(
            .post, "/consumers",
            json: fixture.spec(
                "broken", topic: "t", autostart: false,
                extra: #","restart":{"policy":"never"},"sink":{"type":"file","path":"blocked/out.jsonl"}"#))
        #expect(broken.status == 201, "\(broken.text)")
        let failed = await fixture.request(.post, "/consumers/broken/start", query: ["wait": "20"])
        #expect(failed.status == 409, "\(failed.text)")
        #expect(failed.error["code"] as? String == "consumer_failed")
        #expect((failed.error["message"] as? String)?.contains("blocked") == true)

        let ready = await fixture.request(.get, "/health/ready")
        #expect(ready.status == 503)
        #expect(ready.json["unhealthy_consumers"] as? [String] == ["broken"])
        fixture.manager.superviseOnce()
        let summary = await fixture.request(.get, "/health").json
        #expect(summary["total_consumers"] as? Int == 2)
        #expect(summary["healthy_consumers"] as? Int == 1)
        #expect(summary["unhealthy_consumers"] as? Int == 1)
        #expect(summary["overall_status"] as? String == "degraded")
        let details = try #require(summary["consumer_details"] as? [String: [String: Any]])
        #expect(details["broken"]?["status"] as? String == "unhealthy")
        #expect(details["broken"]?["consecutive_failures"] as? Int == 1)
        #expect(Set((details["idle"]?["metrics"] as? [String: Any])?.keys ?? [:].keys) == [
            "input_rows_per_second", "processed_rows_per_second", "processing_ratio",
        ])
        await fixture.manager.shutdown()
    }

    @Test("liveness fails with 503 when the supervisor stops ticking, and recovers when it ticks")
    func liveness() async throws {
        let fixture = try PlaneFixture(supervisorStallTimeout: .milliseconds(300))
        defer { fixture.remove() }
        fixture.manager.superviseOnce()
        #expect(await fixture.request(.get, "/health/live").status == 200)
        // Nothing ticks the supervisor in this fixture: it reads as wedged.
        #expect(await eventuallyAsync(timeout: .seconds(5)) { await fixture.request(.get, "/health/live").status == 503 })
        let stalled = await fixture.request(.get, "/health/live")
        #expect(stalled.json["status"] as? String == "stalled")
        fixture.manager.superviseOnce()
        #expect(await fixture.request(.get, "/health/live").status == 200)
    }

    @Test("cheap reads are answered inline, with the same answers and metrics; changes and heavy reads are not")
    func inlineReads() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        fixture.manager.superviseOnce()
        func inline(_ method: HTTPMethod, _ path: String) -> HTTPResponse? {
            fixture.plane.respondInline(HTTPRequest(method: method, path: path))
        }
        for path in ["/health", "/health/live", "/health/ready", "/metrics"] {
            let response = try #require(inline(.get, path), "\(path)")
            #expect(response.status == 200, "\(path)")
            #expect(inline(.head, path)?.status == 200, "HEAD \(path)")
        }
        // An inline handler's error leaves as the JSON error shape.
        let missing = try #require(inline(.get, "/consumers/nobody/status"))
        #expect(missing.status == 404 && String(decoding: missing.body, as: UTF8.self).contains(#""code":"consumer_not_found""#))
        // Not inline: every change, reads that may take long, unknown routes.
        #expect(inline(.post, "/consumers") == nil)
        #expect(inline(.delete, "/consumers/nobody") == nil)
        #expect(inline(.get, "/consumers") == nil)
        #expect(inline(.get, "/nowhere") == nil)
        let metrics = String(decoding: try #require(inline(.get, "/metrics")).body, as: UTF8.self)
        #expect(metrics.contains(#"consumerd_http_requests_total{method="GET",route="/health/live",status="200"}"#))
    }

    @Test("/metrics passes promtool and carries the documented series")
    func metrics() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        let topic = uniqueName("metered")
        try fixture.cluster.createTopic(topic, partitions: 1)
        _ = await fixture.request(.post, "/consumers", json: fixture.spec("metered", topic: topic))
        try await offPool { [bootstrap = fixture.cluster.bootstrapServers] in
            try Kcat.produce((0..<5).map { #"{"m":\#($0)}"# }, topic: topic, bootstrap: bootstrap)
        }
        #expect(await eventually { (try? fixture.manager.status("metered").stats.recordsWritten) == 5 })
        // The lag is refreshed periodically: wait for a refresh after the
        // commit. The commit's answer is counted when the consumer's loop
        // next collects it, which can come after the lag reads 0.
        let caughtUp = #"consumerd_consumer_lag_messages{consumer="metered",topic="\#(topic)",partition="0"} 0"#
        let committed = #"consumerd_commits_total{consumer="metered",result="success"}"#
        #expect(await eventuallyAsync {
            let text = await fixture.request(.get, "/metrics").text
            return text.contains(caughtUp) && text.contains(committed)
        })
        _ = await fixture.request(.get, "/consumers/nope")

        let reply = await fixture.request(.get, "/metrics")
        #expect(reply.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = reply.text
        for series in [
            #"consumerd_messages_consumed_total{consumer="metered",topic="\#(topic)",partition="0"} 5"#,
            #"consumerd_records_written_total{consumer="metered",topic="\#(topic)",partition="0"} 5"#,
            #"consumerd_consumer_lag_messages{consumer="metered",topic="\#(topic)",partition="0"} 0"#,
            #"consumerd_consumer_state{consumer="metered",state="running"} 1"#,
            #"consumerd_commits_total{consumer="metered",result="success"}"#,
            #"consumerd_rebalances_total{consumer="metered",kind="assign"} 1"#,
            #"consumerd_batches_total{consumer="metered"}"#,
            "consumerd_batch_duration_seconds_bucket", "consumerd_sink_write_duration_seconds_bucket",
            #"consumerd_http_requests_total{method="GET",route="/consumers/{name}",status="404"} 1"#,
            "consumerd_http_request_duration_seconds_bucket",
        ] {
            #expect(text.contains(series), "missing \(series)")
        }
        try await offPool {
            let file = NSTemporaryDirectory() + "metrics-\(UUID().uuidString).txt"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: file) }
            try run("/bin/sh", ["-c", "promtool check metrics < '\(file)'"])
        }
        await fixture.manager.shutdown()
    }

    @Test("GET returns the spec with secrets masked; PUT of that body keeps the secret")
    func secrets() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        let body = fixture.spec("secret", topic: "t", autostart: false)
            .replacingOccurrences(of: #""fetch.wait.max.ms":10"#, with: #""fetch.wait.max.ms":10,"sasl.username":"u","sasl.password":"hunter2""#)
        #expect(await fixture.request(.post, "/consumers", json: body).status == 201)
        let fetched = await fixture.request(.get, "/consumers/secret")
        #expect(!fetched.text.contains("hunter2"))
        let spec = try #require(fetched.json["spec"] as? [String: Any])
        let kafka = try #require(spec["kafka"] as? [String: Any])
        #expect(kafka["sasl.password"] as? String == "********")
        #expect(kafka["fetch.wait.max.ms"] as? Int == 10, "typed values come back typed")
        let edited = String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self)
        #expect(await fixture.request(.put, "/consumers/secret", json: edited).status == 200)
        let stored = try String(contentsOfFile: "\(fixture.directory.path)/consumers/secret.json", encoding: .utf8)
        #expect(stored.contains("hunter2"))
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(fixture.directory.path)/consumers/secret.json")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }
}

@Suite("Status page")
struct StatusPageTests {
    @Test("the page lists consumers, escapes what it shows, and forbids scripts")
    func page() async throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        #expect(await fixture.request(.post, "/consumers", json: fixture.spec("shown", topic: "t", autostart: false)).status == 201)
        let reply = await fixture.request(.get, "/")
        #expect(reply.status == 200)
        #expect(reply.header("Content-Type") == "text/html; charset=utf-8")
        #expect(reply.header("Content-Security-Policy")?.hasPrefix("default-src 'none'") == true)
        #expect(reply.text.contains(#"<tr id="consumer-shown">"#))
        #expect(StatusPage.escape(#"<script>alert("x")</script> & 'y'"#) == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;")
    }
}
