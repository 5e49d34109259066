/// Something a reader, pass or writer wants the user to know that does not stop the run:
/// precision lost, a field canonicalised, a layer kept opaque.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible {
    public enum Severity: String, Hashable, Sendable, Codable {
        case note
        case warning
    }
    public var severity: Severity
    public var message: String
    /// Where in the model: a tensor name, node path or file section.
    public var location: String?

    public init(_ severity: Severity, _ message: String, at location: String? = nil) {
        self.severity = severity
        self.message = message
        self.location = location
    }

    public var description: String {
        "\(severity.rawValue): " + (location.map { "\($0): " } ?? "") + message
    }
}

/// Collects diagnostics in the order they were raised.
public struct Diagnostics: Sendable {
    public private(set) var items: [Diagnostic] = []
    public init() {}
    public mutating func append(_ d: Diagnostic) { items.append(d) }
    public mutating func warn(_ message: String, at location: String? = nil) {
        items.append(Diagnostic(.warning, message, at: location))
    }
}
