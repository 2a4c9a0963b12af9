import DataModel
import Foundation
import Logging
import Pipeline
import Synchronization

/// Writes one JSON object per line to standard error:
/// `{"ts":"…","level":"info","logger":"consumerd","message":"…","consumer":"trades",…}`.
/// Metadata keys become top-level fields (`consumer`, `batch_id`, `topic`, …).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// Lines from many threads must not interleave.
    private static let output = Mutex<Void>(())
    private static let reserved: Set<String> = ["ts", "level", "logger", "message"]

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }

        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: #"{"ts":"#.utf8)
        JSONWriter.appendString(Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)), to: &line)
        line.append(contentsOf: #","level":"#.utf8)
        JSONWriter.appendString(event.level.rawValue, to: &line)
        line.append(contentsOf: #","logger":"#.utf8)
        JSONWriter.appendString(label, to: &line)
        line.append(contentsOf: #","message":"#.utf8)
        JSONWriter.appendString(event.message.description, to: &line)
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line.append(UInt8(ascii: ","))
            JSONWriter.appendString(Self.reserved.contains(key) ? "meta_\(key)" : key, to: &line)
            line.append(UInt8(ascii: ":"))
            Self.append(value, to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
        Self.output.withLock { _ in
            line.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = write(STDERR_FILENO, raw.baseAddress! + offset, raw.count - offset)
                    if written <= 0 {
                        if written < 0 && errno == EINTR { continue }
                        return
                    }
                    offset += written
                }
            }
        }
    }

    private static func append(_ value: Logger.Metadata.Value, to line: inout [UInt8]) {
        switch value {
        case .string(let string):
            JSONWriter.appendString(string, to: &line)
        case .stringConvertible(let convertible):
            // Numbers and booleans logged as values (`.stringConvertible(42)`)
            // stay numbers and booleans in JSON.
            switch convertible {
            case let flag as Bool:
                line += Array((flag ? "true" : "false").utf8)
            case let number as any BinaryInteger:
                line += Array("\(number)".utf8)
            case let number as Double where number.isFinite:
                line += Array("\(number)".utf8)
            default:
                JSONWriter.appendString(convertible.description, to: &line)
            }
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                append(element, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let entries):
            line.append(UInt8(ascii: "{"))
            for (index, entry) in entries.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(entry.key, to: &line)
                line.append(UInt8(ascii: ":"))
                append(entry.value, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
    }
}
