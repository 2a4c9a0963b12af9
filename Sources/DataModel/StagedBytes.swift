/// Output bytes gathered in a kilobyte of stack and appended to their array
/// a kilobyte at a time.
///
/// Writing JSON is mostly small pieces: a quote, a field name, a few digits.
/// Each `Array.append(contentsOf:)` costs about 110 instructions whatever
/// its length (callgrind on `decode-bench`); a staged piece costs a bounds
/// check and a copy. Staged, an Avro datum's walk to JSON went from 5,324
/// to 4,076 instructions, and a JSON Lines line's framing from 1,428 to
/// 559. The writers in this module (``JSONWriter``, ``CivilTime``) write
/// here; their `inout [UInt8]` forms stage each call, and a caller that
/// writes many values (a batch of JSON Lines) stages once around them all.
public struct StagedBytes {
    @usableFromInline var array: [UInt8]
    @usableFromInline let stage: UnsafeMutablePointer<UInt8>
    @usableFromInline var staged = 0

    /// Up to 1 KiB, `withUnsafeTemporaryAllocation` takes stack without
    /// asking the runtime whether there is room.
    @usableFromInline static let capacity = 1024

    /// Runs `body` with `out` behind a stage; afterwards `out` holds
    /// everything `body` wrote, in order.
    @inlinable
    public static func appending<Result>(to out: inout [UInt8], _ body: (inout StagedBytes) -> Result) -> Result {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var staged = StagedBytes(array: [], stage: buffer.baseAddress!)
            // Moved in and back, never shared: a second reference would
            // make the first flush copy everything `out` held before.
            swap(&staged.array, &out)
            let result = body(&staged)
            staged.flush()
            swap(&staged.array, &out)
            return result
        }
    }

    @inlinable
    init(array: [UInt8], stage: UnsafeMutablePointer<UInt8>) {
        self.array = array
        self.stage = stage
    }

    // Always inlined: called as a function, a piece cost 50 instructions (callgrind).
    @inlinable @inline(__always)
    public mutating func append(_ byte: UInt8) {
        if staged == Self.capacity { flush() }
        stage[staged] = byte
        staged &+= 1
    }

    @inlinable @inline(__always)
    public mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        if bytes.count > Self.capacity &- staged {
            flush()
            // Too long to stage: it goes in with one copy of its own.
            if bytes.count > Self.capacity { return array.append(contentsOf: bytes) }
        }
        (stage + staged).update(from: base, count: bytes.count)
        staged &+= bytes.count
    }

    @inlinable
    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { append($0) }
    }

    /// A literal's UTF-8 bytes.
    @inlinable @inline(__always)
    public mutating func append(literal: StaticString) {
        literal.withUTF8Buffer { append($0) }
    }

    /// Moves what is staged into the array.
    @inlinable
    mutating func flush() {
        // Every write ends here: a debug build (the tests) catches one
        // that ran past the stage.
        assert(staged <= Self.capacity, "written past the stage")
        guard staged > 0 else { return }
        array.append(contentsOf: UnsafeBufferPointer(start: stage, count: staged))
        staged = 0
    }

    /// Runs `body` on the array itself, everything staged so far in it: for
    /// writers that only append to arrays, and for edits of what was written.
    @inlinable
    public mutating func withArray<Result>(_ body: (inout [UInt8]) -> Result) -> Result {
        flush()
        return body(&array)
    }

    /// Formats at most `capacity` bytes straight into the stage.
    mutating func format(capacity: Int, _ body: (inout ASCIIScratch) -> Void) {
        precondition(capacity <= Self.capacity, "a formatted piece larger than the stage")
        if capacity > Self.capacity - staged { flush() }
        var scratch = ASCIIScratch(UnsafeMutableBufferPointer(start: stage + staged, count: capacity))
        body(&scratch)
        staged += scratch.count
    }
}
