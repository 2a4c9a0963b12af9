import ConsumerManager
import HTTPServer
import Prometheus

extension ControlPlane {
    static func addOperationalRoutes(to router: inout Router, manager: ConsumerManager, registry: PrometheusCollectorRegistry) {
        router.group(.api) { router in
            router.onInline(.get, "/health") { [manager] _ in
                .json(HealthSummaryBody(manager.health()))
            }
            router.on(.get, "/presets") { _ in
                .json(PresetList(presets: Preset.allCases.map(PresetBody.init)))
            }
            router.on(.get, "/openapi.yaml") { _ in
                .text(OpenAPIDocument.yaml, contentType: "application/yaml")
            }
        }
        router.group(.page) { router in
            router.on(.get, "/") { [manager] _ in
                let page = StatusPage.render(manager.list().map(StatusBody.init), health: HealthSummaryBody(manager.health()))
                var response = HTTPResponse.text(page, contentType: "text/html; charset=utf-8")
                response.headers += [
                    ("Content-Security-Policy", StatusPage.contentSecurityPolicy), ("Cache-Control", "no-store"),
                    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                ]
                return response
            }
        }
        router.group(.metrics) { router in
            let exposition = MetricsExposition(registry: registry)
            router.onInline(.get, "/metrics") { _ in exposition.response() }
        }
        router.group(.probes) { router in
            addProbes(to: &router, manager: manager)
        }
    }

    private static func addProbes(to router: inout Router, manager: ConsumerManager) {
        router.onInline(.get, "/health/live") { [manager] _ in
            // Alive while the supervisor keeps ticking; a wedged manager gets restarted.
            manager.isSupervising
                ? .json(ProbeBody(status: "alive"))
                : .json(
                    ProbeBody(status: "stalled", reason: "the consumer supervisor has not run for \(manager.configuration.supervisorStallTimeout)"),
                    status: 503)
        }
        router.onInline(.get, "/health/ready") { [manager] _ in
            if manager.isShuttingDown {
                return .json(ProbeBody(status: "not_ready", reason: "shutting down"), status: 503)
            }
            let report = manager.health()
            guard report.unhealthy == 0 else {
                return .json(
                    ProbeBody(status: "not_ready", reason: "unhealthy consumers", unhealthyConsumers: report.unhealthyNames),
                    status: 503)
            }
            return .json(ProbeBody(status: "ready"))
        }
    }
}
