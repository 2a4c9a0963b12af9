/// Finds, eight bytes at a time, the next byte of text that needs a closer
/// look: the hot loops of JSON validation, JSON string writing and UTF-8
/// validation spend most of their time on plain ASCII between such bytes.
///
/// Each word is tested with the classic SWAR formulas (`(x - 0x01…) & ~x &
/// 0x80…` flags zero bytes): a flagged byte is never a false negative, and
/// a false positive can only lie above a true one, so the lowest flagged
/// byte is exactly the first byte that needs a look.
enum ByteScanning {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// The bytes below 0x20, flagged by their high bit.
    @inline(__always)
    private static func controls(_ word: UInt64) -> UInt64 { (word &- 0x20 &* ones) & ~word & highBits }

    /// The bytes equal to `byte`, flagged by their high bit.
    @inline(__always)
    private static func equal(_ word: UInt64, _ byte: UInt8) -> UInt64 {
        let x = word ^ (UInt64(byte) &* ones)
        return (x &- ones) & ~x & highBits
    }

    /// The index of the first byte from `start` that is a quote, a
    /// backslash, below 0x20, or not ASCII (`stopsAtNonASCII`) or DEL (not
    /// `stopsAtNonASCII`); `bytes.count` when there is none.
    @inline(__always)
    static func nextStringSpecial(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, stopsAtNonASCII: Bool) -> Int {
        var index = start
        if let base = bytes.baseAddress {
            while index + 8 <= bytes.count {
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                var flagged = controls(word) | equal(word, UInt8(ascii: "\"")) | equal(word, UInt8(ascii: "\\"))
                flagged |= stopsAtNonASCII ? word & highBits : equal(word, 0x7F)
                if flagged != 0 { return index + flagged.trailingZeroBitCount >> 3 }
                index += 8
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || (stopsAtNonASCII ? byte >= 0x80 : byte == 0x7F) {
                return index
            }
            index += 1
        }
        return index
    }

    /// The index of the first byte from `start` that is not ASCII; `bytes.count` when there is none.
    @inline(__always)
    static func nextNonASCII(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        if let base = bytes.baseAddress {
            while index + 8 <= bytes.count {
                let flagged = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) & highBits
                if flagged != 0 { return index + flagged.trailingZeroBitCount >> 3 }
                index += 8
            }
        }
        while index < bytes.count, bytes[index] < 0x80 { index += 1 }
        return index
    }
}
