/// Decimals travel as unscaled two's complement big-endian bytes of any
/// width; the writer works on them as Int128 (38 digits fit) and stores them
/// at the column's fixed width.
enum DecimalValue {
    /// The value of `bytes`, or nil when empty or wider than 128 significant bits.
    static func unscaled(_ bytes: [UInt8]) -> Int128? {
        guard let first = bytes.first else { return nil }
        let negative = first & 0x80 != 0
        let signByte: UInt8 = negative ? 0xFF : 0
        // Leading bytes beyond sixteen may only repeat the sign.
        var start = 0
        while bytes.count - start > 16 {
            guard bytes[start] == signByte else { return nil }
            start += 1
        }
        guard (bytes[start] & 0x80 != 0) == negative else { return nil }
        var value: Int128 = negative ? -1 : 0
        for index in start..<bytes.count {
            value = value << 8 | Int128(bytes[index])
        }
        return value
    }

    /// Whether `value` has at most `precision` digits.
    static func fits(_ value: Int128, precision: Int) -> Bool {
        value.magnitude < ParquetType.powersOfTen[precision]
    }

    /// Appends the low `width` bytes of `value`, big-endian (sign-extended by construction).
    static func append(_ value: Int128, width: Int, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0.suffix(width)) }
    }

    static func bytes(_ value: Int128, width: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(width)
        append(value, width: width, to: &out)
        return out
    }
}
