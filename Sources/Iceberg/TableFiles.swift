#if canImport(Glibc)
import Glibc
#endif

/// The file operations a table needs, each durable before it returns:
/// data and metadata files are fsynced, and so is the directory that names
/// them, so a commit never points at a file a crash can take back.
enum TableFiles {
    /// Writes a new file; with `exclusive`, fails with `false` if the name
    /// exists (the filesystem catalog's compare-and-swap: `link` is atomic).
    @discardableResult
    static func write(_ bytes: [UInt8], to path: String, exclusive: Bool = false) throws(IcebergError) -> Bool {
        try makeDirectories(directory(of: path))
        let temporary = "\(path).\(randomUUID()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("create \(temporary)") }
        var closed = false
        defer {
            if !closed { close(fd) }
            unlink(temporary)
        }
        try writeAll(fd, bytes, path: temporary)
        guard fsync(fd) == 0 else { throw failure("fsync \(temporary)") }
        closed = true
        guard close(fd) == 0 else { throw failure("close \(temporary)") }
        if exclusive {
            if link(temporary, path) != 0 {
                if errno == EEXIST { return false }
                throw failure("link \(path)")
            }
        } else {
            guard rename(temporary, path) == 0 else { throw failure("rename to \(path)") }
        }
        try syncDirectory(directory(of: path))
        return true
    }

    static func read(_ path: String, limit: Int = 256 << 20) throws(IcebergError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw failure("open \(path)")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("read \(path)")
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            guard bytes.count <= limit else { throw IcebergError.io("\(path) is larger than \(limit) bytes") }
        }
    }

    static func remove(_ path: String) throws(IcebergError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw failure("remove \(path)") }
    }

    /// Regular files under `directory`, recursively, as full paths.
    static func list(_ directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var paths: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let path = "\(directory)/\(name)"
            if entry.pointee.d_type == UInt8(DT_DIR) {
                paths += list(path)
            } else if entry.pointee.d_type == UInt8(DT_REG) {
                paths.append(path)
            }
        }
        return paths
    }

    static func makeDirectories(_ path: String) throws(IcebergError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/\(component)"
            if mkdir(current, 0o755) != 0, errno != EEXIST { throw failure("create directory \(current)") }
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    private static func syncDirectory(_ path: String) throws(IcebergError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open directory \(path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("fsync directory \(path)") }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(IcebergError) {
        let failed: Bool = bytes.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let count = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    return true
                }
                written += count
            }
            return false
        }
        if failed { throw failure("write \(path)") }
    }

    private static func failure(_ what: String) -> IcebergError {
        IcebergError.io("\(what): \(String(cString: strerror(errno)))")
    }
}
