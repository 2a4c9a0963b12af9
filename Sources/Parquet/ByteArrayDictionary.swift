/// The distinct values of a string or binary column chunk and, per value
/// appended, its index: what dictionary encoding writes as one PLAIN
/// dictionary page plus RLE_DICTIONARY data pages.
struct ByteArrayDictionary {
    /// Past either limit the chunk falls back to PLAIN: the dictionary page
    /// would be large and the indices wide, so it no longer pays.
    static let maxEntries = 65_536
    static let maxPageBytes = 1 << 20

    private(set) var entries: [[UInt8]] = []
    private(set) var indices: [UInt32] = []
    /// The dictionary page's size, PLAIN-encoded (4-byte length + bytes per entry).
    private(set) var pageBytes = 0
    private var indexByValue: [Key: UInt32] = [:]

    /// Hashes the bytes in one go: [UInt8]'s own Hashable feeds the hasher a byte at a time.
    private struct Key: Hashable {
        let bytes: [UInt8]

        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    var isOverLimit: Bool {
        entries.count > Self.maxEntries || pageBytes > Self.maxPageBytes
    }

    /// Appends one value's index; returns whether the value is new to the dictionary.
    mutating func append(_ value: [UInt8]) -> Bool {
        let key = Key(bytes: value)
        if let index = indexByValue[key] {
            indices.append(index)
            return false
        }
        let index = UInt32(entries.count)
        indexByValue[key] = index
        indices.append(index)
        entries.append(value)
        pageBytes += 4 + value.count
        return true
    }

    /// Empties the dictionary for the next chunk, keeping its storage.
    mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        indices.removeAll(keepingCapacity: true)
        indexByValue.removeAll(keepingCapacity: true)
        pageBytes = 0
    }
}
