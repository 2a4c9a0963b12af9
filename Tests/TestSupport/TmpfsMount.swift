import Foundation

/// A small tmpfs mounted for a test, to fill a disk on purpose (ENOSPC).
/// Needs root (CAP_SYS_ADMIN), which the test machines have; tests that use
/// it are enabled only where mounting works.
public final class TmpfsMount: @unchecked Sendable {
    public let path: String

    /// Whether this process may mount a tmpfs.
    public static let isAvailable: Bool = {
        guard let probe = try? TmpfsMount(size: 64 << 10) else { return false }
        probe.unmount()
        return true
    }()

    /// Mounts at `path` (created if missing), or at a new temporary directory.
    /// `inodes` bounds the files it can hold (the root directory is one).
    public init(size: Int, at path: String? = nil, inodes: Int? = nil) throws {
        if let path {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            self.path = path
        } else {
            self.path = try TemporaryDirectory("tmpfs").path
        }
        let options = "size=\(size)" + (inodes.map { ",nr_inodes=\($0)" } ?? "")
        try run("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", self.path])
    }

    /// Changes the size in place; the files stay.
    public func resize(_ size: Int) throws {
        try run("/bin/mount", ["-o", "remount,size=\(size)", path])
    }

    public func unmount() {
        _ = try? run("/bin/umount", ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }
}
