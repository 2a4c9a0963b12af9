/// A few dozen bytes of stack to format into, appended to the output in one
/// copy: each `Array.append(contentsOf:)` costs about 100 instructions
/// whatever its length (callgrind), more than formatting a number does, so
/// a timestamp's dozen pieces go in as one.
struct ASCIIScratch {
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0

    /// Runs `body` with `capacity` bytes of stack and appends what it wrote.
    static func append(to out: inout [UInt8], capacity: Int, _ body: (inout ASCIIScratch) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var scratch = ASCIIScratch(buffer: buffer)
            body(&scratch)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<scratch.count]))
        }
    }

    // The preconditions cost a comparison each; an overrun would write
    // past the end of the stack allocation in a release build.
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
