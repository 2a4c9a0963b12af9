/// Parquet's Encoding enum, the values this writer uses.
enum Encoding: Int32 {
    case plain = 0
    case plainDictionary = 2
    case rle = 3
    case rleDictionary = 8
}

/// Writes a buffered column as a column chunk at the end of the file: a
/// dictionary page when the column is dictionary-encoded, then v1 data pages
/// of about `pageBytes` buffered bytes each (so a reader never holds a whole
/// chunk to read a page), each compressed on its own.
struct ColumnChunkEncoder {
    static let pageBytes = 1 << 20

    private let compressor: PageCompressor
    /// Scratch buffers reused for every page: the page before and after compression.
    private var page: [UInt8] = []
    private var compressed: [UInt8] = []

    init(compressor: PageCompressor) {
        self.compressor = compressor
    }

    /// One data page: `rows` indexes the levels, `values` the present values
    /// (booleans, dictionary indices), `bytes` the PLAIN buffer.
    private struct PageSlice {
        var rows: Range<Int>
        var values: Range<Int>
        var bytes: Range<Int>
    }

    private struct PageSizes {
        var uncompressed = 0
        var compressed = 0
    }

    mutating func write(_ column: ColumnWriter, to file: inout [UInt8]) throws(ParquetError) -> ColumnChunkMetadata {
        var totals = PageSizes()
        var dictionaryPageOffset: Int64?
        // An all-null chunk has an empty dictionary: PLAIN with no values is simpler for readers.
        let dictionary = column.isDictionaryEncoded && !column.dictionary.entries.isEmpty ? column.dictionary : nil
        var encodings: [Encoding] = dictionary == nil ? [.plain] : [.plainDictionary, .rleDictionary]
        if column.maxDefinitionLevel > 0 {
            encodings.append(.rle)
        }
        if let dictionary {
            dictionaryPageOffset = Int64(file.count)
            page.removeAll(keepingCapacity: true)
            for entry in dictionary.entries {
                appendLittleEndian(UInt32(entry.count), to: &page)
                page.append(contentsOf: entry)
            }
            try writePage(.dictionary(valueCount: dictionary.entries.count), to: &file, totals: &totals)
        }
        let dataPageOffset = Int64(file.count)
        let valueEncoding: Encoding = dictionary == nil ? .plain : .rleDictionary
        for slice in Self.pageSlices(column) {
            encodePage(slice, of: column, dictionary: dictionary)
            try writePage(.data(valueCount: slice.rows.count, encoding: valueEncoding), to: &file, totals: &totals)
        }
        return ColumnChunkMetadata(
            leaf: column.leaf, encodings: encodings, codec: compressor.codec, valueCount: Int64(column.rowCount),
            uncompressedBytes: Int64(totals.uncompressed), compressedBytes: Int64(totals.compressed),
            dataPageOffset: dataPageOffset, dictionaryPageOffset: dictionaryPageOffset, statistics: column.statistics)
    }

    /// Cuts the column into pages of about `pageBytes` buffered bytes (levels, if any, plus values).
    private static func pageSlices(_ column: ColumnWriter) -> [PageSlice] {
        var slices: [PageSlice] = []
        var start = (row: 0, value: 0, byte: 0)
        var value = 0
        var byte = 0
        let maxLevel = column.maxDefinitionLevel
        let levels = column.levels
        let levelBytes = maxLevel > 0 ? 1 : 0
        for row in 0..<column.rowCount {
            if maxLevel == 0 || levels[row] == maxLevel {
                byte += column.bufferedSize(ofValueAt: byte)
                value += 1
            }
            if byte - start.byte + (row + 1 - start.row) * levelBytes >= pageBytes {
                slices.append(PageSlice(rows: start.row..<row + 1, values: start.value..<value, bytes: start.byte..<byte))
                start = (row + 1, value, byte)
            }
        }
        if start.row < column.rowCount {
            slices.append(PageSlice(rows: start.row..<column.rowCount, values: start.value..<value, bytes: start.byte..<byte))
        }
        return slices
    }

    /// A v1 data page body: definition levels (RLE hybrid behind a 4-byte
    /// length, absent for required columns), then the values.
    private mutating func encodePage(_ slice: PageSlice, of column: ColumnWriter, dictionary: ByteArrayDictionary?) {
        page.removeAll(keepingCapacity: true)
        if column.maxDefinitionLevel > 0 {
            let lengthOffset = page.count
            page.append(contentsOf: [0, 0, 0, 0])
            let bitWidth = LevelEncoder.bitWidth(forMax: Int(column.maxDefinitionLevel))
            column.levels.withUnsafeBufferPointer { levels in
                LevelEncoder.encode(UnsafeBufferPointer(rebasing: levels[slice.rows]), bitWidth: bitWidth, into: &page)
            }
            let length = UInt32(page.count - lengthOffset - 4).littleEndian
            withUnsafeBytes(of: length) { page.replaceSubrange(lengthOffset..<lengthOffset + 4, with: $0) }
        }
        if let dictionary {
            // Indices take the width of the largest index, at least one bit.
            let bitWidth = max(1, LevelEncoder.bitWidth(forMax: dictionary.entries.count - 1))
            page.append(UInt8(bitWidth))
            dictionary.indices.withUnsafeBufferPointer { indices in
                LevelEncoder.encode(UnsafeBufferPointer(rebasing: indices[slice.values]), bitWidth: bitWidth, into: &page)
            }
        } else if column.physicalType == .boolean {
            column.values.withUnsafeBufferPointer { values in
                LevelEncoder.bitPack(values, from: slice.values.lowerBound, to: slice.values.upperBound, bitWidth: 1, into: &page)
            }
        } else {
            page.append(contentsOf: column.values[slice.bytes])
        }
    }

    /// Appends the page header and the (compressed) page in `page` to the file;
    /// adds both sizes, header included, to `totals`.
    private mutating func writePage(_ header: PageHeader, to file: inout [UInt8], totals: inout PageSizes) throws(ParquetError) {
        let compressedSize = compressor.codec == .uncompressed ? page.count : try compressor.compress(page, into: &compressed)
        let headerBytes = header.encoded(uncompressedSize: page.count, compressedSize: compressedSize)
        file.append(contentsOf: headerBytes)
        if compressor.codec == .uncompressed {
            file.append(contentsOf: page)
        } else {
            file.append(contentsOf: compressed[..<compressedSize])
        }
        totals.uncompressed += headerBytes.count + page.count
        totals.compressed += headerBytes.count + compressedSize
    }

    private func appendLittleEndian(_ value: UInt32, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }
}

/// The Thrift PageHeader of a v1 data page or a dictionary page (no CRC).
enum PageHeader {
    case data(valueCount: Int, encoding: Encoding)
    case dictionary(valueCount: Int)

    func encoded(uncompressedSize: Int, compressedSize: Int) -> [UInt8] {
        ThriftCompactWriter.encode { header in
            switch self {
            case .data(let valueCount, let encoding):
                header.i32(1, 0)  // DATA_PAGE
                header.i32(2, Int32(uncompressedSize))
                header.i32(3, Int32(compressedSize))
                header.structure(5) { data in
                    data.i32(1, Int32(valueCount))  // nulls included
                    data.i32(2, encoding.rawValue)
                    data.i32(3, Encoding.rle.rawValue)  // definition levels
                    data.i32(4, Encoding.rle.rawValue)  // repetition levels (none written)
                }
            case .dictionary(let valueCount):
                header.i32(1, 2)  // DICTIONARY_PAGE
                header.i32(2, Int32(uncompressedSize))
                header.i32(3, Int32(compressedSize))
                header.structure(7) { dictionary in
                    dictionary.i32(1, Int32(valueCount))
                    dictionary.i32(2, Encoding.plainDictionary.rawValue)
                }
            }
        }
    }
}
