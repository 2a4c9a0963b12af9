import DataModel
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Persists each consumer's spec and desired state as `<name>.json` in one
/// directory. Writes are atomic (temp file, fsync, rename, directory fsync),
/// so a crash leaves either the old or the new file, never a torn one.
/// Files are private to the server's user: specs may hold credentials.
struct SpecStore: Sendable {
    let directory: String

    /// The on-disk document.
    struct Entry: Codable, Equatable, Sendable {
        /// The layout this server writes and reads. A file from a newer
        /// server is refused rather than misread.
        static let currentVersion = 1
        var version = currentVersion
        var spec: ConsumerSpec
        var desiredState: DesiredState
        /// An offset reset the next run applies.
        var offsetReset: PendingOffsetReset?
        /// Dead letters already redriven.
        var redriven: RedriveLedger?

        enum CodingKeys: String, CodingKey {
            case version, spec
            case desiredState = "desired_state"
            case offsetReset = "offset_reset"
            case redriven
        }
    }

    init(directory: String) throws(ConsumerManagerError) {
        self.directory = directory
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw Self.failure("create \(directory)", errno)
        }
    }

    /// Every stored entry; unreadable files are reported, not fatal.
    func loadAll() -> (entries: [Entry], problems: [String]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            return ([], ["cannot list \(directory)"])
        }
        var entries: [Entry] = []
        var problems: [String] = []
        for file in names.sorted() where file.hasSuffix(".json") {
            let path = "\(directory)/\(file)"
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                let entry = try StrictJSON.decode(Entry.self, from: [UInt8](data))
                guard entry.version == Entry.currentVersion else {
                    problems.append(
                        "\(path): stored with format version \(entry.version); this consumerd reads version \(Entry.currentVersion)")
                    continue
                }
                try entry.spec.validate()
                guard "\(entry.spec.name).json" == file else {
                    problems.append("\(path): holds consumer '\(entry.spec.name)'")
                    continue
                }
                entries.append(entry)
            } catch {
                problems.append("\(path): \(error)")
            }
        }
        return (entries, problems)
    }

    func save(_ entry: Entry) throws(ConsumerManagerError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do {
            data = try encoder.encode(entry)
        } catch {
            throw ConsumerManagerError(.persistence, "cannot encode \(entry.spec.name): \(error)")
        }
        let path = self.path(for: entry.spec.name)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw Self.failure("open \(temporary)", errno) }
        let written = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
        let code = errno
        guard written, fsync(fd) == 0 else {
            let failure = Self.failure("write \(temporary)", written ? errno : code)
            close(fd)
            unlink(temporary)
            throw failure
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let failure = Self.failure("rename \(temporary)", errno)
            unlink(temporary)
            throw failure
        }
        try syncDirectory()
    }

    func delete(_ name: String) throws(ConsumerManagerError) {
        if unlink(path(for: name)) != 0 && errno != ENOENT {
            throw Self.failure("delete \(path(for: name))", errno)
        }
        try syncDirectory()
    }

    private func path(for name: String) -> String { "\(directory)/\(name).json" }

    /// Makes renames and unlinks durable.
    private func syncDirectory() throws(ConsumerManagerError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open \(directory)", errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Self.failure("fsync \(directory)", errno) }
    }

    private static func failure(_ what: String, _ code: Int32) -> ConsumerManagerError {
        ConsumerManagerError(.persistence, "\(what): \(String(cString: strerror(code)))")
    }
}
