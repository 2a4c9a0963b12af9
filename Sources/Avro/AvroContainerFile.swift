import CZlib
import DataModel

/// Avro object container files: the format of Iceberg's manifests and
/// manifest lists.
///
/// The framing (magic, metadata map, sync marker, blocks) is written and
/// read here; every datum is encoded and decoded by avro-c through
/// ``AvroEncoder`` and ``AvroDecoder``. avro-c's own file writer puts only
/// `avro.schema` and `avro.codec` into the header, and Iceberg requires
/// more keys there (`schema`, `partition-spec`, `format-version`, ...); it
/// also rewrites the schema in its canonical form, dropping the `field-id`
/// attributes Iceberg readers resolve fields by. So the header is ours and
/// carries the schema text exactly as given.
public enum AvroContainerFile {
    static let magic: [UInt8] = [0x4F, 0x62, 0x6A, 0x01]  // "Obj" 1
    /// Records per block: small enough to bound a reader's work per block.
    static let recordsPerBlock = 4096

    /// A whole file: header with `schema.text` and `metadata`, the records
    /// in blocks, codec `null`.
    public static func write(schema: AvroSchema, metadata: [(String, String)], records: [Value]) throws(AvroError) -> [UInt8] {
        let encoder = try AvroEncoder(schema: schema)
        var sync = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in sync.indices { sync[index] = generator.next() }

        var out = magic
        let entries = [("avro.schema", Array(schema.text.utf8)), ("avro.codec", Array("null".utf8))]
            + metadata.map { ($0.0, Array($0.1.utf8)) }
        appendLong(Int64(entries.count), to: &out)
        for (key, value) in entries {
            appendBytes(Array(key.utf8), to: &out)
            appendBytes(value, to: &out)
        }
        appendLong(0, to: &out)
        out += sync

        var start = 0
        while start < records.count {
            let end = min(start + recordsPerBlock, records.count)
            var block: [UInt8] = []
            for record in records[start..<end] { block += try encoder.encode(record) }
            appendLong(Int64(end - start), to: &out)
            appendLong(Int64(block.count), to: &out)
            out += block
            out += sync
            start = end
        }
        return out
    }

    /// What a file holds: its header metadata and its records, decoded with
    /// the schema the file carries. Codecs `null` (what ``write`` uses) and
    /// `deflate` (Iceberg's Java writers' default) are read.
    public struct Contents: Sendable {
        public var schema: AvroSchema
        public var metadata: [String: String]
        public var records: [Value]
    }

    /// Reads a whole file; throws on anything malformed, never traps.
    public static func read(_ bytes: [UInt8]) throws(AvroError) -> Contents {
        var reader = ByteReader(bytes: bytes)
        guard try reader.take(4) == magic else { throw AvroError(.malformed, "not an Avro object container file") }
        var metadata: [String: String] = [:]
        while true {
            var count = try reader.long()
            if count == 0 { break }
            if count < 0 {
                count = -count
                _ = try reader.long()  // the block's byte size
            }
            for _ in 0..<count {
                let key = String(decoding: try reader.lengthPrefixed(), as: UTF8.self)
                metadata[key] = String(decoding: try reader.lengthPrefixed(), as: UTF8.self)
            }
        }
        let sync = try reader.take(16)
        guard let schemaText = metadata["avro.schema"] else { throw AvroError(.malformed, "container header has no avro.schema") }
        let codec = metadata["avro.codec"] ?? "null"
        guard codec == "null" || codec == "deflate" else {
            throw AvroError(.malformed, "container codec '\(codec)' is not supported (null and deflate are)")
        }
        let schema = try AvroSchema(text: schemaText)
        let decoder = AvroDecoder()

        var records: [Value] = []
        while !reader.atEnd {
            let count = try reader.long()
            let size = try reader.long()
            guard count >= 0, size >= 0, size <= reader.remaining else { throw AvroError(.malformed, "container block size out of range") }
            let stored = try reader.take(Int(size))
            var block = (codec == "deflate" ? try inflate(stored) : stored)[...]
            for _ in 0..<count {
                let length = try block.withUnsafeBufferPointer { buffer throws(AvroError) in
                    try AvroBoundsCheck.datumLength(buffer, schema: schema)
                }
                records.append(try decoder.decode(block.prefix(length), writer: schema, writerKey: -1))
                block = block.dropFirst(length)
            }
            guard block.isEmpty else { throw AvroError(.malformed, "container block has bytes after its records") }
            guard try reader.take(16) == sync else { throw AvroError(.malformed, "container sync marker mismatch") }
        }
        return Contents(schema: schema, metadata: metadata, records: records)
    }

    /// Largest decompressed block accepted: a hostile file cannot make us
    /// allocate without bound.
    static let maxBlockBytes = 64 << 20

    /// Raw deflate (RFC 1951, no zlib header), as Avro's `deflate` codec stores blocks.
    static func inflate(_ compressed: [UInt8]) throws(AvroError) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw AvroError(.malformed, "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = compressed
        var status = Z_OK
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            while status == Z_OK, output.count <= maxBlockBytes {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return target.count - Int(stream.avail_out)
                }
                output += chunk[0..<produced]
                if produced == 0 && status == Z_OK && stream.avail_in == 0 { status = Z_BUF_ERROR }
            }
        }
        guard status == Z_STREAM_END, output.count <= maxBlockBytes else {
            throw AvroError(.malformed, "container block does not inflate (zlib status \(status))")
        }
        return output
    }

    static func appendLong(_ value: Int64, to out: inout [UInt8]) {
        var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while zigzag >= 0x80 {
            out.append(UInt8(zigzag & 0x7F) | 0x80)
            zigzag >>= 7
        }
        out.append(UInt8(zigzag))
    }

    static func appendBytes(_ bytes: [UInt8], to out: inout [UInt8]) {
        appendLong(Int64(bytes.count), to: &out)
        out += bytes
    }

    private struct ByteReader {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index >= bytes.count }
        var remaining: Int { bytes.count - index }

        mutating func take(_ count: Int) throws(AvroError) -> [UInt8] {
            guard count >= 0, count <= remaining else { throw AvroError(.malformed, "container file ends early") }
            defer { index += count }
            return Array(bytes[index..<index + count])
        }

        mutating func long() throws(AvroError) -> Int64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard index < bytes.count, shift < 64 else { throw AvroError(.malformed, "bad varint in container file") }
                let byte = bytes[index]
                index += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            return Int64(bitPattern: result >> 1) ^ -Int64(bitPattern: result & 1)
        }

        mutating func lengthPrefixed() throws(AvroError) -> [UInt8] {
            let length = try long()
            guard length >= 0, length <= remaining else { throw AvroError(.malformed, "container length out of range") }
            return try take(Int(length))
        }
    }
}
