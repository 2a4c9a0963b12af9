import CZstd

/// How pages are compressed. zstd levels are libzstd's (1...22, 3 is its default).
public enum ParquetCompression: Sendable {
    case uncompressed
    case zstd(level: Int32)
}

/// Compresses pages with the file's codec. One zstd context serves every
/// page of the file, so its tables are allocated once.
final class PageCompressor {
    /// ColumnMetaData.codec values.
    enum Codec: Int32 {
        case uncompressed = 0
        case zstd = 6
    }

    let codec: Codec
    private let level: Int32
    private let context: OpaquePointer?

    init(_ compression: ParquetCompression) {
        switch compression {
        case .uncompressed:
            codec = .uncompressed
            level = 0
            context = nil
        case .zstd(let level):
            codec = .zstd
            self.level = level
            context = ZSTD_createCCtx()
        }
    }

    deinit {
        ZSTD_freeCCtx(context)
    }

    /// Compresses `input` into the front of `output`, which grows to the
    /// worst-case size once and is reused; returns the compressed size.
    func compress(_ input: [UInt8], into output: inout [UInt8]) throws(ParquetError) -> Int {
        guard let context else { throw ParquetError("zstd: no compression context (out of memory)") }
        let bound = ZSTD_compressBound(input.count)
        if output.count < bound {
            output = [UInt8](repeating: 0, count: bound)
        }
        let size = input.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                ZSTD_compressCCtx(context, destination.baseAddress, destination.count, source.baseAddress, source.count, level)
            }
        }
        if ZSTD_isError(size) != 0 {
            throw ParquetError("zstd: \(String(cString: ZSTD_getErrorName(size)))")
        }
        return size
    }
}
