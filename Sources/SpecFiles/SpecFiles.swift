import ConsumerManager
import DataModel
import Foundation

/// Consumer specs kept in files (in git, next to a deployment): a JSON or
/// YAML file, or a directory of them (`*.json`, `*.yaml`, `*.yml`, not
/// recursive). A file holds one spec, a list of specs, or
/// `{"consumers": [...]}`; a YAML file may hold several documents.
/// Every spec is decoded and validated as the server would, and an error
/// names the file, the spec and the field.
public enum SpecFiles {
    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var file: String
        public var message: String
        public var description: String { "\(file): \(message)" }
    }

    /// Larger files are refused: specs are small, and a mistake (a log file
    /// in the directory) should fail fast.
    public static let maxFileBytes = 4 << 20
    public static let maxSpecs = 4096

    /// Every spec under `path`, sorted by name; names must be unique.
    public static func load(_ path: String) throws(LoadError) -> [ConsumerSpec] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LoadError(file: path, message: "no such file or directory")
        }
        var files = [path]
        if isDirectory.boolValue {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                throw LoadError(file: path, message: "cannot list the directory")
            }
            files = names.filter { name in
                !name.hasPrefix(".") && [".json", ".yaml", ".yml"].contains { name.hasSuffix($0) }
            }.sorted().map { "\(path)/\($0)" }
        }
        var specs: [ConsumerSpec] = []
        var origin: [String: String] = [:]
        for file in files {
            for spec in try Self.specs(inFile: file) {
                if let first = origin[spec.name] {
                    throw LoadError(file: file, message: "consumer '\(spec.name)' is also defined in \(first)")
                }
                origin[spec.name] = file
                specs.append(spec)
                guard specs.count <= maxSpecs else { throw LoadError(file: file, message: "more than \(maxSpecs) specs") }
            }
        }
        return specs.sorted { $0.name < $1.name }
    }

    static func specs(inFile file: String) throws(LoadError) -> [ConsumerSpec] {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw LoadError(file: file, message: "cannot be read") }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxFileBytes + 1)) ?? Data()
        guard data.count <= maxFileBytes else { throw LoadError(file: file, message: "larger than \(maxFileBytes) bytes") }
        return try specs(in: String(decoding: data, as: UTF8.self), file: file)
    }

    /// The specs in one file's text; JSON by the `.json` suffix, else YAML.
    public static func specs(in text: String, file: String) throws(LoadError) -> [ConsumerSpec] {
        let documents: [Value]
        if file.hasSuffix(".json") {
            do {
                documents = [try JSONParser.parse(text)]
            } catch {
                throw LoadError(file: file, message: "not valid JSON: \(error)")
            }
        } else {
            do {
                documents = try YAMLParser.parseDocuments(text)
            } catch {
                throw LoadError(file: file, message: "not valid YAML: \(error)")
            }
        }
        var specs: [ConsumerSpec] = []
        for (index, document) in documents.enumerated() {
            let at = documents.count > 1 ? " (document \(index + 1))" : ""
            for (position, value) in try entries(of: document, file: file + at).enumerated() {
                let name = value.objectValue?["name"]?.stringValue.map { "'\($0)'" } ?? "#\(position + 1)"
                do {
                    let spec = try StrictJSON.decode(ConsumerSpec.self, from: value)
                    try spec.validate()
                    specs.append(spec)
                } catch let error as ConsumerManagerError {
                    let message = error.field.map { "\($0): \(error.message)" } ?? error.message
                    throw LoadError(file: file + at, message: "consumer \(name): \(message)")
                } catch {
                    throw LoadError(file: file + at, message: "consumer \(name): \(error)")
                }
            }
        }
        return specs
    }

    private static func entries(of document: Value, file: String) throws(LoadError) -> [Value] {
        switch document {
        case .null: return []
        case .array(let items): return items
        case .object(let object):
            if object.keys == ["consumers"] {
                guard case .array(let items) = object["consumers"] else {
                    throw LoadError(file: file, message: "consumers: must be a list of specs")
                }
                return items
            }
            return [document]
        default:
            throw LoadError(file: file, message: "expected a spec, a list of specs or {\"consumers\": [...]}")
        }
    }
}
