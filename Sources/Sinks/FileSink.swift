#if canImport(Glibc)
import Glibc
#endif
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
public final class FileSink: Sink {
    public let kind = "file"
    public let target: String
    private var descriptor: Int32
    /// Size of the file after the last durable batch.
    private var durableSize: off_t
    private var buffer: [UInt8] = []
    /// Bytes of a torn last line removed on open (a previous crash mid-write).
    public let repairedBytes: Int
    /// Times the file was found rotated or deleted and opened anew.
    public private(set) var reopens = 0

    /// Opens (creating if needed) the file at `path`, creating missing parent
    /// directories. Symlinks in the final component are refused.
    public init(path: String) throws(PipelineError) {
        target = path
        (descriptor, durableSize, repairedBytes) = try Self.openFile(path)
    }

    deinit { close() }

    private static func openFile(_ path: String) throws(PipelineError) -> (Int32, off_t, Int) {
        try createParentDirectories(of: path)
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { throw error("open \(path)", errno, retriable: true) }
        do throws(PipelineError) {
            // The file's directory entry must be durable before any offset
            // is committed against its contents.
            try syncDirectory(parent(of: path))
            let (size, repaired) = try trimTornLine(fd, path: path)
            return (fd, size, repaired)
        } catch {
            Glibc.close(fd)
            throw error
        }
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
        guard fstat(descriptor, &open) == 0, open.st_nlink > 0, lstat(target, &named) == 0 else { return false }
        return open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    private func reopen() throws(PipelineError) {
        let (fd, size, _) = try Self.openFile(target)
        Glibc.close(descriptor)
        descriptor = fd
        durableSize = size
        reopens += 1
    }

    public func close() {
        if descriptor >= 0 {
            Glibc.close(descriptor)
            descriptor = -1
        }
    }

    private static func createParentDirectories(of path: String) throws(PipelineError) {
        var components = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        guard !components.isEmpty else { return }
        var current = path.hasPrefix("/") ? "" : "."
        if components.first == "" { components = components.dropFirst() }
        for component in components where !component.isEmpty {
            let parent = current
            current += "/" + component
            if mkdir(current, 0o750) == 0 {
                try syncDirectory(parent)
            } else if errno != EEXIST {
                throw error("create directory \(current)", errno, retriable: true)
            }
        }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func syncDirectory(_ path: String) throws(PipelineError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw error("open directory \(path)", errno, retriable: true) }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw error("fsync directory \(path)", errno, retriable: true) }
    }

    /// Returns the file size after cutting any incomplete last line.
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
public struct FileSinkSpec: SinkSpec {
    public static let type = "file"
    public static let maxPathLength = 255
    /// Relative to the sink directory.
    public var path: String

    public init(path: String) {
        self.path = path
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case type, path }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = try container.decode(String.self, forKey: .path)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
        try container.encode(path, forKey: .path)
    }

    /// Files stay inside the sink directory: relative, no `..`, no hidden
    /// components, a conservative character set.
    public func validate() throws(SpecError) {
        guard !path.isEmpty, path.utf8.count <= Self.maxPathLength else {
            throw SpecError("path", "must be 1-\(Self.maxPathLength) bytes")
        }
        guard !path.hasPrefix("/") else { throw SpecError("path", "must be relative to the sink directory") }
        guard !path.hasSuffix("/") else { throw SpecError("path", "must name a file, not a directory") }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard !component.isEmpty else { throw SpecError("path", "must not contain empty path components") }
            guard component != "..", component != "." else { throw SpecError("path", "must not contain '.' or '..' components") }
            guard !component.hasPrefix(".") else { throw SpecError("path", "must not contain hidden path components") }
            guard component.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) else {
                throw SpecError("path", "may only contain A-Z a-z 0-9 . _ - and /")
            }
        }
    }

    public func conflictKey(in context: SinkContext) -> String? { target(in: context) }
    public var conflictField: String? { "path" }
    public func target(in context: SinkContext) -> String { "\(context.sinkDirectory)/\(path)" }

    public func makeSink(in context: SinkContext) throws(PipelineError) -> any Sink {
        let sink = try FileSink(path: target(in: context))
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
