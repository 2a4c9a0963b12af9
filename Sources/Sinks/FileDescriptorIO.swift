#if canImport(Glibc)
import Glibc
#endif
import Pipeline
import Synchronization

enum FileDescriptorIO {
    /// Serialises whole batches written to standard output by different consumers.
    static let stdoutLock = Mutex<Void>(())

    /// Writes every byte, continuing after partial writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], target: String) throws(PipelineError) {
        let failure: Int32? = bytes.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return nil
        }
        if let failure {
            throw FileSink.error("write \(target)", failure, retriable: true)
        }
    }
}
