/// A path to a field inside a structured value: `symbol`, `user_location.city`,
/// `legs[0].qty`. Dots separate object members, `[n]` indexes arrays. Member
/// names with dots or brackets cannot be addressed (none of the seeds' have them).
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public enum Component: Sendable, Hashable {
        case member(String)
        case index(Int)
    }

    public let components: [Component]
    public let description: String

    public init(components: [Component]) {
        self.components = components
        var text = ""
        for component in components {
            switch component {
            case .member(let name): text += text.isEmpty ? name : ".\(name)"
            case .index(let index): text += "[\(index)]"
            }
        }
        self.description = text
    }

    /// Parses `a.b[0].c`; `nil` when the text is not a path.
    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= 256 else { return nil }
        var components: [Component] = []
        var rest = Substring(text)
        while let first = rest.first {
            if first == "[" {
                guard !components.isEmpty, let close = rest.firstIndex(of: "]"),
                    let index = Int(rest[rest.index(after: rest.startIndex)..<close]), index >= 0
                else { return nil }
                components.append(.index(index))
                rest = rest[rest.index(after: close)...]
            } else {
                // After the first component, a member follows a dot.
                if !components.isEmpty {
                    guard first == "." else { return nil }
                    rest = rest.dropFirst()
                }
                let end = rest.firstIndex(where: { $0 == "." || $0 == "[" }) ?? rest.endIndex
                let name = rest[..<end]
                guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0 == "]" }) else { return nil }
                components.append(.member(String(name)))
                rest = rest[end...]
            }
        }
        self.init(components: components)
    }

    /// The top-level member, for a single-name path.
    public var singleName: String? {
        guard components.count == 1, case .member(let name) = components[0] else { return nil }
        return name
    }
}

extension Value {
    /// The value at `path`, or `nil` when a step is missing or of the wrong kind.
    public subscript(path: FieldPath) -> Value? {
        var current = self
        for component in path.components {
            switch (component, current) {
            case (.member(let name), .object(let object)):
                guard let next = object[name] else { return nil }
                current = next
            case (.index(let index), .array(let elements)):
                guard elements.indices.contains(index) else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    /// Sets the value at `path`, creating missing objects on the way. Returns
    /// `false` when the path crosses a value that is not an object or array
    /// (or an index out of bounds); nothing changes then.
    @discardableResult
    public mutating func set(_ newValue: Value, at path: FieldPath) -> Bool {
        Self.set(newValue, in: &self, at: path.components[...])
    }

    private static func set(_ newValue: Value, in target: inout Value, at path: ArraySlice<FieldPath.Component>) -> Bool {
        guard let first = path.first else {
            target = newValue
            return true
        }
        switch first {
        case .member(let name):
            if target.isNull { target = .object(Object()) }
            guard case .object(var object) = target else { return false }
            var child = object[name] ?? .null
            guard set(newValue, in: &child, at: path.dropFirst()) else { return false }
            object[name] = child
            target = .object(object)
            return true
        case .index(let index):
            guard case .array(var elements) = target, elements.indices.contains(index) else { return false }
            guard set(newValue, in: &elements[index], at: path.dropFirst()) else { return false }
            target = .array(elements)
            return true
        }
    }

    /// Removes the member at `path`; returns what was there.
    @discardableResult
    public mutating func remove(at path: FieldPath) -> Value? {
        Self.remove(in: &self, at: path.components[...])
    }

    private static func remove(in target: inout Value, at path: ArraySlice<FieldPath.Component>) -> Value? {
        guard let first = path.first else { return nil }
        let last = path.count == 1
        switch (first, target) {
        case (.member(let name), .object(var object)):
            if last {
                let removed = object.removeValue(forKey: name)
                target = .object(object)
                return removed
            }
            guard var child = object[name] else { return nil }
            let removed = remove(in: &child, at: path.dropFirst())
            object[name] = child
            target = .object(object)
            return removed
        case (.index(let index), .array(var elements)):
            guard elements.indices.contains(index) else { return nil }
            if last { return nil }  // Array elements are not removed, only members.
            let removed = remove(in: &elements[index], at: path.dropFirst())
            target = .array(elements)
            return removed
        default:
            return nil
        }
    }
}
