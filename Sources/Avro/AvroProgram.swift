/// A schema compiled for ``AvroDatumWalker``: every type is one instruction
/// in a flat table, children are indexes, names are bytes. Walking a datum
/// then touches no reference count: switching over ``AvroType`` copied
/// each payload out of its box (fields, names, aliases), and that
/// retain/release traffic was most of a walk's cost.
///
/// Immutable after init; its tables live in memory it allocates once and
/// frees on deinit, which is why it may be shared across threads.
final class AvroProgram: @unchecked Sendable {
    enum Instruction {
        case null, boolean, float, double, string
        case int(AvroType.IntLogical?)
        case long(AvroType.LongLogical?)
        case bytes(decimal: AvroType.DecimalType?)
        case fixed(size: Int, decimal: AvroType.DecimalType?, name: Int)
        case enumeration(symbols: Range<Int>, name: Int)
        case union(branches: Range<Int>)
        case record(fields: Range<Int>)
        case array(items: Int)
        case map(values: Int)
    }

    struct Field {
        /// The field as a JSON member opens, in ``text``: `,"name":`. The
        /// first field of a record starts one byte in, after the comma.
        var member: Range<Int>
        var type: Int
    }

    /// The instruction of the schema's root type.
    let root: Int
    let instructions: UnsafeBufferPointer<Instruction>
    /// Every record's fields, each record's contiguous.
    let fields: UnsafeBufferPointer<Field>
    /// Every union's branches (instruction indexes), each union's contiguous.
    let branches: UnsafeBufferPointer<Int>
    /// Every enum's symbols (ranges in ``text``, quoted: `"SYMBOL"`), each
    /// enum's contiguous.
    let symbols: UnsafeBufferPointer<Range<Int>>
    /// Field names and enum symbols, back to back, already written as JSON
    /// writes them (Avro names need no escaping), so that writing one is a
    /// single copy.
    let text: UnsafeBufferPointer<UInt8>
    /// Full names of enums and fixed types, for error messages.
    let names: [String]

    init(root type: AvroType, namedTypes: [String: AvroType]) {
        var compiler = Compiler(namedTypes: namedTypes)
        root = compiler.compile(type)
        instructions = Self.allocate(compiler.instructions)
        fields = Self.allocate(compiler.fields)
        branches = Self.allocate(compiler.branches)
        symbols = Self.allocate(compiler.symbols)
        text = Self.allocate(compiler.text)
        names = compiler.names
    }

    deinit {
        instructions.deallocate()
        fields.deallocate()
        branches.deallocate()
        symbols.deallocate()
        text.deallocate()
    }

    private static func allocate<T>(_ elements: [T]) -> UnsafeBufferPointer<T> {
        let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: elements.count)
        _ = buffer.initialize(from: elements)
        return UnsafeBufferPointer(buffer)
    }

    func text(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: text[range])
    }

    private struct Compiler {
        let namedTypes: [String: AvroType]
        var instructions: [Instruction] = []
        var fields: [Field] = []
        var branches: [Int] = []
        var symbols: [Range<Int>] = []
        var text: [UInt8] = []
        var names: [String] = []
        /// Named types already compiled: references and recursion point here.
        var compiled: [String: Int] = [:]

        mutating func compile(_ type: AvroType) -> Int {
            switch type {
            case .null: return emit(.null)
            case .boolean: return emit(.boolean)
            case .int(let logical): return emit(.int(logical))
            case .long(let logical): return emit(.long(logical))
            case .float: return emit(.float)
            case .double: return emit(.double)
            case .bytes(let decimal): return emit(.bytes(decimal: decimal))
            case .string: return emit(.string)
            case .fixed(let fixed):
                return named(fixed.fullName) { compiler in
                    .fixed(size: fixed.size, decimal: fixed.decimal, name: compiler.name(fixed.fullName))
                }
            case .enumeration(let enumeration):
                return named(enumeration.fullName) { compiler in
                    let start = compiler.symbols.count
                    for symbol in enumeration.symbols { compiler.symbols.append(compiler.store("\"\(symbol)\"")) }
                    return .enumeration(symbols: start..<compiler.symbols.count, name: compiler.name(enumeration.fullName))
                }
            case .record(let record):
                return named(record.fullName) { compiler in
                    // Field types first: they may add fields of their own records.
                    let types = record.fields.map { compiler.compile($0.type) }
                    let start = compiler.fields.count
                    for (field, type) in zip(record.fields, types) {
                        compiler.fields.append(Field(member: compiler.store(",\"\(field.name)\":"), type: type))
                    }
                    return .record(fields: start..<compiler.fields.count)
                }
            case .union(let members):
                let types = members.map { compile($0) }
                let start = branches.count
                branches.append(contentsOf: types)
                return emit(.union(branches: start..<branches.count))
            case .array(let items):
                let index = emit(.null)
                instructions[index] = .array(items: compile(items))
                return index
            case .map(let values):
                let index = emit(.null)
                instructions[index] = .map(values: compile(values))
                return index
            case .reference(let name):
                if let index = compiled[name] { return index }
                // The parser defines a type before any reference to it;
                // this only keeps a schema built otherwise walkable.
                return compile(namedTypes[name] ?? .null)
            }
        }

        private mutating func emit(_ instruction: Instruction) -> Int {
            instructions.append(instruction)
            return instructions.count - 1
        }

        /// A named type's instruction, registered before its body compiles,
        /// so that a recursive reference finds it.
        private mutating func named(_ fullName: String, _ body: (inout Compiler) -> Instruction) -> Int {
            if let index = compiled[fullName] { return index }
            let index = emit(.null)
            compiled[fullName] = index
            instructions[index] = body(&self)
            return index
        }

        private mutating func store(_ string: String) -> Range<Int> {
            let start = text.count
            text.append(contentsOf: string.utf8)
            return start..<text.count
        }

        private mutating func name(_ fullName: String) -> Int {
            names.append(fullName)
            return names.count - 1
        }
    }
}
