import DataModel

/// A table's name: `market.trades` is table `trades` in namespace `market`.
public struct TableIdentifier: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var namespace: [String]
    public var name: String

    /// Parses `ns.table` or `ns1.ns2.table`: a namespace is required (as in
    /// pyiceberg's SQL catalog) and each part is a path-safe name.
    public init?(_ dotted: String) {
        let parts = dotted.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts.count <= 4, dotted.utf8.count <= 255 else { return nil }
        for part in parts {
            guard !part.isEmpty, part.utf8.allSatisfy({ $0.isASCIIIdentifierByte }) else { return nil }
        }
        namespace = Array(parts.dropLast())
        name = parts.last!
    }

    public var description: String { (namespace + [name]).joined(separator: ".") }
    /// The namespace as the SQL catalog stores it.
    var namespaceText: String { namespace.joined(separator: ".") }
    /// Where the table lives under a warehouse directory.
    public func location(in warehouse: String) -> String { ([warehouse] + namespace + [name]).joined(separator: "/") }
}

extension UInt8 {
    fileprivate var isASCIIIdentifierByte: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) || self == 0x5F || self == 0x2D
    }
}

/// Where a table's current metadata file is recorded, and the atomic swap
/// that makes a commit: a new metadata version becomes current only if the
/// version it was built on still is, so two writers never both win.
public protocol IcebergCatalog: AnyObject {
    /// For logs and metrics: `filesystem`, `sql`.
    var kind: String { get }
    /// The table's current metadata and the file it came from; `nil` when
    /// there is no such table.
    func load(_ table: TableIdentifier) throws(IcebergError) -> (metadata: TableMetadata, file: String)?
    /// Writes `metadata` as the table's next version and makes it current if
    /// `base` (the file it was built on; `nil` to create the table) is still
    /// current. Returns the new file, or `nil` when another writer went first.
    func commit(_ table: TableIdentifier, base: String?, metadata: TableMetadata) throws(IcebergError) -> String?
    func close()
}

/// The number of a metadata file: `v12.metadata.json` and
/// `00012-<uuid>.metadata.json` are both version 12.
func metadataVersion(of file: String) -> Int? {
    let name = file.split(separator: "/").last.map(String.init) ?? file
    let digits = name.drop { $0 == "v" }.prefix { $0.isNumber }
    return Int(digits)
}

/// Table metadata JSON from a file.
func parseJSON(_ bytes: [UInt8], _ path: String) throws(IcebergError) -> Value {
    do {
        return try JSONParser.parse(bytes, duplicateKeys: .lastWins)
    } catch {
        throw IcebergError.metadata("\(path) is not valid JSON: \(error)")
    }
}
