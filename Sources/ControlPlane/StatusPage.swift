import ConsumerManager
import Foundation

/// `GET /`: consumerd's state for people, in one server-rendered page: no
/// script, no external asset (a strict Content-Security-Policy says so),
/// refreshing itself. Everything shown comes from the same status the REST
/// API returns, and every value is HTML-escaped.
enum StatusPage {
    static let refreshSeconds = 5

    static func render(_ consumers: [StatusBody], health: HealthSummaryBody, now: Date = Date()) -> String {
        var rows = ""
        for consumer in consumers {
            let error = consumer.lastError.map { error in
                "<span class=\"\(error.resolved ? "muted" : "bad")\">\(escape(error.stage)): \(escape(clip(error.message, 160)))</span>"
            } ?? ""
            rows += """
                <tr id="consumer-\(escape(consumer.name))">
                <td class="name">\(escape(consumer.name))</td>
                <td><span class="badge state-\(escape(consumer.state))">\(escape(consumer.state))</span></td>
                <td><span class="badge health-\(escape(consumer.health.status))">\(escape(consumer.health.status))</span>\(consumer.health.reason.map { "<div class=\"muted\">\(escape(clip($0, 120)))</div>" } ?? "")</td>
                <td class="num">\((consumer.lagTotal ?? consumer.groupLag?.total).map(String.init) ?? "–")</td>
                <td class="num">\(rate(consumer.rates.inputRowsPerSecond))</td>
                <td class="num">\(rate(consumer.rates.processedRowsPerSecond))</td>
                <td class="num">\(consumer.totals.recordsWritten)</td>
                <td class="num">\(consumer.totals.recordsDeadLettered)</td>
                <td class="num">\(consumer.restarts)</td>
                <td>\(escape(consumer.sink.type)) <span class="muted">\(escape(clip(consumer.sink.target, 60)))</span></td>
                <td>\(error)</td>
                </tr>

                """
        }
        if consumers.isEmpty {
            rows = "<tr><td colspan=\"11\" class=\"muted\">No consumers registered yet: POST /consumers or <code>consumerd ctl apply -f</code>.</td></tr>"
        }
        let overall = escape(health.overallStatus)
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="refresh" content="\(refreshSeconds)">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>consumerd: \(overall)</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2430; background: #f7f8fa; }
            h1 { font-size: 20px; margin: 0 0 4px; }
            .summary { margin: 0 0 16px; }
            table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
            th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid #e6e8ec; vertical-align: top; }
            th { font-weight: 600; background: #eef0f4; }
            .num { text-align: right; font-variant-numeric: tabular-nums; }
            .name { font-weight: 600; }
            .muted { color: #6b7280; font-size: 12px; }
            .bad { color: #b42318; }
            .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #e5e7eb; }
            .state-running, .health-healthy { background: #d1fadf; color: #05603a; }
            .state-paused, .state-starting, .state-stopping, .health-degraded { background: #fef0c7; color: #93370d; }
            .state-failed, .health-unhealthy { background: #fee4e2; color: #b42318; }
            .overall-healthy { color: #05603a; } .overall-degraded { color: #93370d; } .overall-unhealthy { color: #b42318; }
            </style>
            </head>
            <body>
            <h1>consumerd</h1>
            <p class="summary"><strong class="overall-\(overall)" id="overall">\(overall)</strong>:
            \(health.totalConsumers) consumers, \(health.healthyConsumers) healthy, \(health.degradedConsumers) degraded, \(health.unhealthyConsumers) unhealthy.
            <span class="muted">Updated \(escape(timestamp(now))), every \(refreshSeconds) s. JSON: <a href="consumers">/consumers</a>, <a href="health">/health</a>, <a href="openapi.yaml">/openapi.yaml</a>.</span></p>
            <table>
            <thead><tr><th>Consumer</th><th>State</th><th>Health</th><th class="num">Lag</th><th class="num">In/s</th><th class="num">Out/s</th><th class="num">Written</th><th class="num">Dead letters</th><th class="num">Restarts</th><th>Sink</th><th>Last error</th></tr></thead>
            <tbody>
            \(rows)</tbody>
            </table>
            </body>
            </html>

            """
    }

    /// Only what the page itself needs: inline styles, nothing else.
    static let contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    private static func clip(_ text: String, _ length: Int) -> String {
        text.count <= length ? text : String(text.prefix(length - 1)) + "…"
    }

    private static func rate(_ value: Double) -> String {
        value >= 100 ? String(Int(value.rounded())) : String(format: "%.1f", value)
    }
}
