/// The RLE / bit-packing hybrid of Parquet's Encodings.md, used for
/// definition levels and dictionary indices. Repeats of at least eight equal
/// values become RLE runs (`varint(count << 1)` then the value in
/// ceil(bitWidth / 8) little-endian bytes); everything else is bit-packed in
/// groups of eight values, LSB first (`varint(groups << 1 | 1)` then
/// `bitWidth` bytes per group). Only the last group of the data may be padded,
/// since readers stop at the count they expect.
enum LevelEncoder {
    /// The bit width that holds every value up to `maxValue`.
    static func bitWidth(forMax maxValue: Int) -> Int {
        Int.bitWidth - maxValue.leadingZeroBitCount
    }

    static func encode<Value: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<Value>, bitWidth: Int, into out: inout [UInt8]
    ) {
        let count = values.count
        var index = 0
        while index < count {
            let run = runLength(values, from: index, limit: count)
            if run >= 8 {
                appendRun(count: run, value: UInt64(values[index]), bitWidth: bitWidth, into: &out)
                index += run
                continue
            }
            // Bit-pack whole groups until a run of eight starts on a group boundary.
            var end = index + 8
            while end < count && runLength(values, from: end, limit: 8) < 8 {
                end += 8
            }
            appendVarint(UInt64((end - index) / 8) << 1 | 1, into: &out)
            bitPack(values, from: index, to: end, bitWidth: bitWidth, into: &out)
            index = end
        }
    }

    /// Bit-packs values[start..<end], LSB first, zeros past the end of `values`.
    static func bitPack<Value: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<Value>, from start: Int, to end: Int, bitWidth: Int, into out: inout [UInt8]
    ) {
        var buffer: UInt64 = 0
        var bits = 0
        for index in start..<end {
            let value = index < values.count ? UInt64(values[index]) : 0
            buffer |= value << bits
            bits += bitWidth
            while bits >= 8 {
                out.append(UInt8(truncatingIfNeeded: buffer))
                buffer >>= 8
                bits -= 8
            }
        }
        if bits > 0 {
            out.append(UInt8(truncatingIfNeeded: buffer))
        }
    }

    /// How many values from `start` equal values[start], counting at most `limit`.
    private static func runLength<Value: FixedWidthInteger>(_ values: UnsafeBufferPointer<Value>, from start: Int, limit: Int) -> Int {
        let first = values[start]
        let end = min(values.count, start + limit)
        var index = start + 1
        while index < end && values[index] == first {
            index += 1
        }
        return index - start
    }

    private static func appendRun(count: Int, value: UInt64, bitWidth: Int, into out: inout [UInt8]) {
        appendVarint(UInt64(count) << 1, into: &out)
        var rest = value
        for _ in 0..<(bitWidth + 7) / 8 {
            out.append(UInt8(truncatingIfNeeded: rest))
            rest >>= 8
        }
    }

    private static func appendVarint(_ value: UInt64, into out: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }
}
