#if canImport(Glibc)
import Glibc
#endif
import DataModel
import Pipeline

/// Appends records as JSON Lines to a file and fsyncs before returning.
///
/// A batch is one `write` and one `fdatasync`. A failed write is cut back to
/// the last complete batch, and a torn last line left by a crash is trimmed
/// on open, so the file always ends on a record boundary.
///
/// Rotation: before a batch counts as written, the sink checks that the file
/// it wrote to is still the file at its path (same device and inode, not
/// unlinked). After a rename (logrotate's default) or a delete, it opens a new
/// file at the path and writes the batch again there, so a committed batch
/// is always reachable at the path.
///
/// Confinement: the path is resolved beneath the sink directory one component
/// at a time (`openat` with `O_NOFOLLOW`), so no symbolic link, in the last
/// component or any directory on the way, leads out of it.
public final class FileSink: Sink {
    public let kind = "file"
    public let target: String
    /// The directory the file lives in, held open: checks and fsyncs go
    /// through it, never back through the path.
    private var directoryDescriptor: Int32
    private var descriptor: Int32
    private let directory: String
    private let relativePath: String
    private let fileName: String
    /// Size of the file after the last durable batch.
    private var durableSize: off_t
    private var buffer: [UInt8] = []
    /// Bytes of a torn last line removed on open (a previous crash mid-write).
    public let repairedBytes: Int
    /// Times the file was found rotated or deleted and opened anew.
    public private(set) var reopens = 0

    /// Opens (creating if needed) `path` beneath `directory`, creating missing
    /// directories on the way. `directory` is trusted; `path` is not: it must
    /// be relative, and a symbolic link anywhere in it is refused.
    public init(directory: String, path: String) throws(PipelineError) {
        self.directory = directory
        relativePath = path
        fileName = path.split(separator: "/").last.map(String.init) ?? path
        target = "\(directory)/\(path)"
        (directoryDescriptor, descriptor, durableSize, repairedBytes) = try Self.openFile(
            beneath: directory, path: path, target: target)
    }

    deinit { close() }

    private static func openFile(beneath root: String, path: String, target: String) throws(PipelineError) -> (Int32, Int32, off_t, Int) {
        var components = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard !path.hasPrefix("/"), let name = components.popLast(), !components.contains("..") else {
            throw PipelineError(stage: .sink, message: "\(path) must be a relative path inside \(root)")
        }
        var directoryFD = Glibc.open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw error("open directory \(root)", errno, retriable: true) }
        var walked = root
        do throws(PipelineError) {
            for component in components {
                walked += "/" + component
                let next = try openOrCreateDirectory(component, in: directoryFD, path: walked)
                Glibc.close(directoryFD)
                directoryFD = next
            }
            let fd = openat(directoryFD, name, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o640)
            guard fd >= 0 else { throw refusalOrError("open \(target)", errno) }
            do throws(PipelineError) {
                // The file's directory entry must be durable before any offset
                // is committed against its contents.
                guard fsync(directoryFD) == 0 else { throw error("fsync directory \(walked)", errno, retriable: true) }
                let (size, repaired) = try trimTornLine(fd, path: target)
                return (directoryFD, fd, size, repaired)
            } catch {
                Glibc.close(fd)
                throw error
            }
        } catch {
            Glibc.close(directoryFD)
            throw error
        }
    }

    /// The subdirectory `name` of `parent`, created (and made durable) if
    /// missing; never through a symbolic link.
    private static func openOrCreateDirectory(_ name: String, in parent: Int32, path: String) throws(PipelineError) -> Int32 {
        let flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
        var fd = openat(parent, name, flags)
        if fd < 0 && errno == ENOENT {
            guard mkdirat(parent, name, 0o750) == 0 || errno == EEXIST else {
                throw error("create directory \(path)", errno, retriable: true)
            }
            guard fsync(parent) == 0 else { throw error("fsync the parent of \(path)", errno, retriable: true) }
            fd = openat(parent, name, flags)
        }
        guard fd >= 0 else { throw refusalOrError("open directory \(path)", errno) }
        return fd
    }

    /// A symbolic link (`ELOOP` under `O_NOFOLLOW`) or a file where a
    /// directory belongs is a permanent refusal; anything else may pass.
    private static func refusalOrError(_ what: String, _ code: Int32) -> PipelineError {
        if code == ELOOP || code == ENOTDIR {
            return PipelineError(
                stage: .sink, message: "\(what): refused, a symbolic link or a file is in the way (sink files stay inside the sink directory)",
                isRetriable: false)
        }
        return error(what, code, retriable: true)
    }

    public let commits = SinkCommits.consumer

    public func write(_ batch: SinkBatch) throws(PipelineError) -> SinkWriteResult {
        try write(batch.records)
        return .written
    }

    public func write(_ records: [Record]) throws(PipelineError) {
        guard !records.isEmpty else { return }
        guard descriptor >= 0 else { throw PipelineError(stage: .sink, message: "\(target) is closed") }
        JSONLinesEncoder.encode(records, into: &buffer)
        if !isReachable { try reopen() }
        try append()
        // Rotated while we wrote: the batch is in a file nobody will read at the path.
        if !isReachable {
            try reopen()
            try append()
        }
        // A batch of unusually large records should not pin its buffer forever.
        if buffer.capacity > 64 << 20 { buffer = [] }
    }

    /// Writes the buffer durably, or leaves the file as it was.
    private func append() throws(PipelineError) {
        do throws(PipelineError) {
            try FileDescriptorIO.writeAll(descriptor, buffer, target: target)
            guard fdatasync(descriptor) == 0 else { throw Self.error("fdatasync \(target)", errno, retriable: true) }
        } catch {
            // Drop whatever part of the batch reached the file; the retry rewrites it all.
            _ = ftruncate(descriptor, durableSize)
            throw error
        }
        durableSize += off_t(buffer.count)
    }

    /// The open file is the one at the path (not renamed away, not deleted).
    private var isReachable: Bool {
        var open = stat()
        var named = stat()
        guard fstat(descriptor, &open) == 0, open.st_nlink > 0,
            fstatat(directoryDescriptor, fileName, &named, AT_SYMLINK_NOFOLLOW) == 0
        else { return false }
        return open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    private func reopen() throws(PipelineError) {
        let (directoryFD, fd, size, _) = try Self.openFile(beneath: directory, path: relativePath, target: target)
        close()
        directoryDescriptor = directoryFD
        descriptor = fd
        durableSize = size
        reopens += 1
    }

    public func close() {
        if descriptor >= 0 {
            Glibc.close(descriptor)
            descriptor = -1
        }
        if directoryDescriptor >= 0 {
            Glibc.close(directoryDescriptor)
            directoryDescriptor = -1
        }
    }

    private static func trimTornLine(_ fd: Int32, path: String) throws(PipelineError) -> (off_t, Int) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw error("stat \(path)", errno, retriable: true) }
        let size = info.st_size
        guard size > 0 else { return (0, 0) }
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var end = size
        while end > 0 {
            let start = max(0, end - off_t(chunk.count))
            let want = Int(end - start)
            let got = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, start) }
            guard got == want else { throw error("read \(path)", errno, retriable: true) }
            if let newline = chunk[0..<want].lastIndex(of: 0x0A) {
                let keep = start + off_t(newline) + 1
                if keep == size { return (size, 0) }
                guard ftruncate(fd, keep) == 0 else { throw error("truncate \(path)", errno, retriable: true) }
                return (keep, Int(size - keep))
            }
            end = start
        }
        guard ftruncate(fd, 0) == 0 else { throw error("truncate \(path)", errno, retriable: true) }
        return (0, Int(size))
    }

    static func error(_ what: String, _ code: Int32, retriable: Bool) -> PipelineError {
        PipelineError(stage: .sink, message: "\(what): \(String(cString: strerror(code)))", isRetriable: retriable)
    }
}


/// `{"type": "file", "path": "trades.jsonl"}`: JSON Lines under the server's
/// sink directory, fsynced before offsets are committed. One consumer per file.
/// The path defaults to `<consumer>.jsonl`, as does the sink itself.
public struct FileSinkSpec: SinkSpec {
    public static let type = "file"
    public static let maxPathLength = 255
    /// Relative to the sink directory; `nil` until defaults are resolved.
    public var path: String?

    public init(path: String? = nil) {
        self.path = path
    }

    public static func defaultPath(consumer: String) -> String { "\(consumer).jsonl" }
    public var readsRecordFields: Bool { false }

    public func resolvingDefaults(consumer: String) -> FileSinkSpec {
        FileSinkSpec(path: path ?? Self.defaultPath(consumer: consumer))
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case type, path }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = try container.decodeUnlessAbsent(String.self, forKey: .path)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
        try container.encodeIfPresent(path, forKey: .path)
    }

    private var resolvedPath: String { path ?? "" }

    /// Files stay inside the sink directory (``SinkPaths``).
    public func validate() throws(SpecError) {
        let path = resolvedPath
        try SinkPaths.validateRelative(path, field: "path", maxLength: Self.maxPathLength)
        guard !path.hasSuffix("/") else { throw SpecError("path", "must name a file, not a directory") }
    }

    public func conflictKey(in context: SinkContext) -> String? { target(in: context) }
    public var conflictField: String? { "path" }
    /// The same file, or one consumer's file where the other needs a
    /// directory (`sub` and `sub/x.jsonl`): the second could never open.
    public static func keysCollide(_ key: String, _ other: String) -> Bool {
        key == other || key.hasPrefix(other + "/") || other.hasPrefix(key + "/")
    }
    public func target(in context: SinkContext) -> String {
        "\(context.sinkDirectory)/\(path ?? Self.defaultPath(consumer: context.consumer))"
    }

    public func makeSink(in context: SinkContext) throws(PipelineError) -> any Sink {
        let sink = try FileSink(directory: context.sinkDirectory, path: path ?? Self.defaultPath(consumer: context.consumer))
        if sink.repairedBytes > 0 {
            context.logger.warning(
                "trimmed a torn last line left by a crash", metadata: ["path": "\(sink.target)", "bytes": "\(sink.repairedBytes)"])
        }
        return sink
    }
}

extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
    }
}
