import DataModel
import TestSupport
import Testing

/// ``StagedBytes`` holds up to a kilobyte back and moves it into the array
/// in one copy: whatever the pieces' sizes and kinds, the array must end up
/// with exactly the bytes appended, in order.
@Suite("StagedBytes")
struct StagedBytesTests {
    /// JSON string escaping as RFC 8259 and ``JSONWriter`` spell it.
    static func quoted(_ bytes: [UInt8]) -> [UInt8] {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): out += Array(#"\""#.utf8)
            case UInt8(ascii: "\\"): out += Array(#"\\"#.utf8)
            case 0x0A: out += Array(#"\n"#.utf8)
            case 0x0D: out += Array(#"\r"#.utf8)
            case 0x09: out += Array(#"\t"#.utf8)
            case ..<0x20, 0x7F: out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return out
    }

    @Test("pieces of every size and kind come out in order, across the stage's edges, behind what the array held")
    func piecesInOrder() {
        var random = SplitMix64(seed: 42)
        let prefix: [UInt8] = Array("held before;".utf8)
        var expected = prefix
        var out = prefix
        StagedBytes.appending(to: &out) { staged in
            for _ in 0..<4_000 {
                switch Int.random(in: 0..<7, using: &random) {
                case 0:
                    let byte = UInt8.random(in: 0...255, using: &random)
                    staged.append(byte)
                    expected.append(byte)
                case 1:
                    // Up to well past the stage: the long ones skip it.
                    let length = Int.random(in: 0...2_500, using: &random)
                    let piece = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
                    staged.append(piece)
                    expected += piece
                case 2:
                    staged.append(literal: #","key":"#)
                    expected += Array(#","key":"#.utf8)
                case 3:
                    let number = Int64.random(in: Int64.min...Int64.max, using: &random) >> UInt64.random(in: 0...63, using: &random)
                    JSONWriter.appendInteger(number, to: &staged)
                    expected += Array(String(number).utf8)
                case 4:
                    let length = Int.random(in: 0...1_500, using: &random)
                    let text = (0..<length).map { _ in UInt8.random(in: 0...0x7F, using: &random) }
                    JSONWriter.appendString(text, to: &staged)
                    expected += Self.quoted(text)
                case 5:
                    staged.withArray { $0 += [0xAB, 0xCD] }
                    expected += [0xAB, 0xCD]
                default:
                    let micros = Int64.random(in: 0...4_102_444_800_000_000, using: &random)
                    CivilTime.appendTimestamp(micros: micros, precision: .microseconds, utc: true, to: &staged)
                    var alone: [UInt8] = []
                    CivilTime.appendTimestamp(micros: micros, precision: .microseconds, utc: true, to: &alone)
                    expected += alone
                }
            }
        }
        // Where they part, not two long arrays.
        let firstDifference = (0..<min(out.count, expected.count)).first { out[$0] != expected[$0] } ?? min(out.count, expected.count)
        let same = out == expected
        #expect(same, "first difference at byte \(firstDifference) of \(expected.count) (\(out.count) written)")
    }

    @Test("a stage that was never filled leaves the array as it was; one that was is flushed on the way out")
    func flushedOnTheWayOut() {
        var out: [UInt8] = [1, 2, 3]
        StagedBytes.appending(to: &out) { _ in }
        #expect(out == [1, 2, 3])
        StagedBytes.appending(to: &out) { $0.append(4) }
        #expect(out == [1, 2, 3, 4])
    }
}
