import ConsumerManager
import Foundation
import HTTPServer
import Kafka
import Prometheus
import Testing
import TestSupport

@testable import ControlPlane

/// The repository's openapi.yaml.
private let openAPIPath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("openapi.yaml").path

/// (METHOD, path) pairs of openapi.yaml, read from its `paths:` block.
private func documentedOperations() throws -> Set<String> {
    let text = try String(contentsOfFile: openAPIPath, encoding: .utf8)
    var operations = Set<String>()
    var path: String?
    var inPaths = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line == "paths:" { inPaths = true; continue }
        if inPaths, let first = line.first, first != " " { break }
        guard inPaths else { continue }
        if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
            path = String(line.dropFirst(2).dropLast())
        } else if let path, let method = ["get", "put", "patch", "post", "delete"].first(where: { line == "    \($0):" }) {
            operations.insert("\(method.uppercased()) \(path)")
        }
    }
    return operations
}

@Suite("openapi.yaml")
struct OpenAPIDocumentTests {
    @Test("every route is documented and every documented operation is routed")
    func routesMatchDocument() throws {
        let fixture = try PlaneFixture()
        defer { fixture.remove() }
        let routed = Set(fixture.plane.router.routes.map { "\($0.method) \($0.pattern)" })
        let documented = try documentedOperations()
        #expect(documented.count >= 17)
        #expect(routed.subtracting(documented).isEmpty, "undocumented: \(routed.subtracting(documented).sorted())")
        #expect(documented.subtracting(routed).isEmpty, "not routed: \(documented.subtracting(routed).sorted())")
    }

    @Test("the served document is the repository's openapi.yaml (run `make openapi` after editing it)")
    func embeddedCopyIsCurrent() throws {
        #expect(OpenAPIDocument.yaml == (try String(contentsOfFile: openAPIPath, encoding: .utf8)))
    }

    /// openapi-spec-validator 0.7 lets some keyword types through (3.0's
    /// boolean `exclusiveMinimum` in a 3.1 document), so every Schema Object
    /// is also checked against JSON Schema 2020-12, the dialect 3.1 uses.
    @Test("the document is valid OpenAPI (openapi-spec-validator) and every schema valid JSON Schema 2020-12")
    func validates() async throws {
        let path = openAPIPath
        let script = """
            import sys
            from jsonschema import Draft202012Validator
            from openapi_spec_validator import validate
            from openapi_spec_validator.readers import read_from_filename
            document = read_from_filename(sys.argv[1])[0]
            validate(document)
            def schemas(node, parent=None):
                if isinstance(node, dict):
                    for key, value in node.items():
                        if (key == "schema" and parent != "properties") or parent == "schemas":
                            yield value
                        yield from schemas(value, key)
                elif isinstance(node, list):
                    for item in node:
                        yield from schemas(item, parent)
            for schema in schemas(document):
                Draft202012Validator.check_schema(schema)
            """
        let python = ProcessInfo.processInfo.environment["OPENAPI_PYTHON"] ?? "python3"
        _ = try await offPool { try run("/usr/bin/env", [python, "-c", script, path]) }
    }
}
