import ArgumentParser
import ConsumerManager
import ControlPlane
import Foundation
import Kafka

#if canImport(Glibc)
import Glibc
#endif

/// `ctl export DIR`: every registered consumer's spec as GET shows it, one
/// file each, for `ctl apply -f DIR` on another server: the way from a
/// single-node consumerd to a cluster (or back).
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every consumer's spec to DIR/<name>.json, ready for `ctl apply -f DIR` on another server.",
        discussion: """
            Specs are written as GET /consumers/NAME returns them: pretty JSON with sorted keys, secrets masked \
            (\(KafkaConfig.redactedValue)). The files that hold a masked secret are named on stderr: put the real \
            values back before applying them elsewhere. DIR is created (mode 0700) when missing, files are mode 0600, \
            and existing files are left alone unless --force. JSON only: there is no YAML writer (`ctl apply` reads both).
            """)
    @OptionGroup var options: CtlOptions
    @Argument(help: ArgumentHelp("The directory to write the spec files to.", valueName: "dir")) var directory: String
    @Option(help: "The files' format (JSON only: there is no YAML writer).") var format: ExportFormat = .json
    @Flag(help: "Overwrite existing files.") var force = false

    enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
        case json
    }

    static let maskedSecretsWarning = "these specs hold masked secrets; put the real values back before `ctl apply`"

    struct Exported {
        var name: String
        var path: String
        var text: String
        var holdsMaskedSecrets: Bool { text.contains(KafkaConfig.redactedValue) }
    }

    func run() throws {
        let client = try options.client()
        let (list, _) = try client.get(ConsumerList.self, "/consumers")
        var exported: [Exported] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        for name in list.consumers.map(\.name).sorted() {
            // The name becomes a file name: hold the server's answer to the
            // rule it enforces (no '/', no leading '.').
            do throws(ConsumerManagerError) {
                try ConsumerSpec.validateName(name)
            } catch {
                throw CommandFailure(description: "the server lists a consumer named '\(name)', which cannot be a file name: \(error.message)")
            }
            let (resource, _) = try client.get(ConsumerResource.self, "/consumers/\(CtlClient.segment(name))")
            guard resource.spec.name == name else {
                throw CommandFailure(description: "GET /consumers/\(name) answered the spec of '\(resource.spec.name)'")
            }
            let text = String(decoding: try encoder.encode(resource.spec), as: UTF8.self) + "\n"
            exported.append(Exported(name: name, path: "\(directory)/\(name).\(format.rawValue)", text: text))
        }

        try Self.prepare(directory)
        let existing = exported.map(\.path).filter { FileManager.default.fileExists(atPath: $0) }
        if !existing.isEmpty && !force {
            throw CommandFailure(description: "\(existing.joined(separator: ", ")) already exist\(existing.count == 1 ? "s" : ""); --force overwrites; nothing written")
        }
        for file in exported {
            try Self.write(Array(file.text.utf8), to: file.path, replacing: force)
        }
        // Other spec files in DIR would be applied along with these.
        let written = Set(exported.map { "\($0.name).\(format.rawValue)" })
        let others = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { name in
            !written.contains(name) && !name.hasPrefix(".") && [".json", ".yaml", ".yml"].contains { name.hasSuffix($0) }
        }.sorted()

        switch options.output {
        case .table:
            for file in exported { print("wrote \(file.path)") }
            if exported.isEmpty { print("no consumers registered: nothing written") }
        case .json:
            let document: [String: Any] = [
                "directory": directory,
                "files": exported.map { ["name": $0.name, "path": $0.path, "masked_secrets": $0.holdsMaskedSecrets] as [String: Any] },
            ]
            if let data = try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes]) {
                print(String(decoding: data, as: UTF8.self))
            }
        }
        fflush(nil)  // stdout before the warnings on stderr
        let masked = exported.filter(\.holdsMaskedSecrets).map(\.path)
        if !masked.isEmpty {
            FileHandle.standardError.write(Data("warning: \(Self.maskedSecretsWarning): \(masked.joined(separator: ", "))\n".utf8))
        }
        if !others.isEmpty {
            FileHandle.standardError.write(
                Data("warning: \(directory) also holds \(others.joined(separator: ", ")), which `ctl apply -f \(directory)` would apply too\n".utf8))
        }
    }

    /// Creates the directory (mode 0700) unless it exists.
    static func prepare(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CommandFailure(description: "\(directory) exists and is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CommandFailure(description: "cannot create \(directory): \(error.localizedDescription)")
        }
        // Exactly 0700, whatever the umask.
        guard chmod(directory, 0o700) == 0 else {
            throw CommandFailure(description: "cannot chmod 700 \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// A new file of mode 0600 (O_EXCL: an existing one is an error), or,
    /// `replacing`, a temporary file renamed over the old one.
    static func write(_ bytes: [UInt8], to path: String, replacing: Bool) throws {
        let target = replacing ? Self.temporaryPath(for: path) : path
        let descriptor = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CommandFailure(description: "cannot create \(target): \(String(cString: strerror(errno)))")
        }
        var offset = 0
        var failure: Int32 = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            offset += count
        }
        if failure == 0 && fsync(descriptor) != 0 { failure = errno }
        if close(descriptor) != 0 && failure == 0 { failure = errno }
        if failure == 0 && replacing && rename(target, path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(target)
            throw CommandFailure(description: "cannot write \(path): \(String(cString: strerror(failure)))")
        }
    }

    /// Hidden (SpecFiles skips dot files) and next to the file, so the rename stays in one file system.
    private static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp").path
    }
}
