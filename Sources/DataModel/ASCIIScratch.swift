/// Room in a ``StagedBytes`` stage to format a number or a date into: the
/// digits of a number come out last first, so they are written by index
/// before they count as output.
struct ASCIIScratch {
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        self.buffer = buffer
    }

    // The preconditions cost a comparison each; an overrun would write
    // past the end of the stage in a release build.
    mutating func byte(_ byte: UInt8) {
        precondition(count < buffer.count, "ASCIIScratch overrun")
        buffer[count] = byte
        count += 1
    }

    /// Decimal digits, zero-padded to at least `width` (at most 20).
    mutating func digits(_ value: UInt64, width: Int = 1) {
        var length = 1
        var rest = value / 10
        while rest > 0 {
            length += 1
            rest /= 10
        }
        length = max(length, min(width, 20))
        precondition(count + length <= buffer.count, "ASCIIScratch overrun")
        rest = value
        var index = count + length
        while index > count {
            index -= 1
            buffer[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        }
        count += length
    }
}
