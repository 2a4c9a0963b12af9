import Pipeline

/// Paths in specs (a file sink's file, an Iceberg warehouse) name places
/// inside the server's sink directory: relative, no `.` or `..`, no hidden
/// components, a conservative character set. A spec is untrusted input and
/// must not reach the rest of the filesystem.
enum SinkPaths {
    static func validateRelative(_ path: String, field: String, maxLength: Int) throws(SpecError) {
        guard !path.isEmpty, path.utf8.count <= maxLength else {
            throw SpecError(field, "must be 1-\(maxLength) bytes")
        }
        guard !path.hasPrefix("/") else { throw SpecError(field, "must be relative to the sink directory") }
        for component in path.split(separator: "/", omittingEmptySubsequences: false).dropLast(path.hasSuffix("/") ? 1 : 0) {
            guard !component.isEmpty else { throw SpecError(field, "must not contain empty path components") }
            guard component != "..", component != "." else { throw SpecError(field, "must not contain '.' or '..' components") }
            guard !component.hasPrefix(".") else { throw SpecError(field, "must not contain hidden path components") }
            guard component.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) else {
                throw SpecError(field, "may only contain A-Z a-z 0-9 . _ - and /")
            }
        }
    }
}
