/// One step of a pipeline as written: a pass name and its arguments in order.
public struct PassSpec: Hashable, Sendable {
    public var name: String
    public var arguments: [Argument]

    public struct Argument: Hashable, Sendable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(name: String, arguments: [Argument] = []) {
        self.name = name
        self.arguments = arguments
    }

    /// `name(k=v,...)`.
    public var text: String {
        arguments.isEmpty ? name : name + "(" + arguments.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + ")"
    }

    /// This spec with `overrides` replacing or adding arguments.
    public func overriding(_ overrides: [Argument]) -> PassSpec {
        var out = self
        for o in overrides {
            if let i = out.arguments.firstIndex(where: { $0.name == o.name }) {
                out.arguments[i].value = o.value
            } else {
                out.arguments.append(o)
            }
        }
        return out
    }
}

/// The textual pipeline syntax: `prune(sparsity=0.6),kmeans(bits=4),huffman`.
///
/// Passes are separated by commas (or `|`); parameters are `name=value` pairs in parentheses, separated
/// by commas. Whitespace is ignored. Values are numbers, words, or `"quoted text"`.
public enum Pipeline {
    /// Parses `text` into pass specs (not yet checked against the registry).
    public static func parse(_ text: String) throws(CompressionError) -> [PassSpec] {
        var p = Parser(Array(text.unicodeScalars))
        return try p.pipeline()
    }

    private struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        init(_ s: [Unicode.Scalar]) { self.s = s }

        mutating func skipSpace() { while i < s.count, s[i].properties.isWhitespace { i += 1 } }

        func error(_ what: String) -> CompressionError {
            CompressionError(
                .usage,
                "cannot read the pipeline at character \(i + 1): \(what); write passes like "
                    + "'prune(sparsity=0.6),kmeans(bits=4)'")
        }

        mutating func word() -> String {
            var out = ""
            while i < s.count,
                s[i].properties.isAlphabetic || ("0"..."9").contains(s[i]) || s[i] == "_" || s[i] == "-"
                    || s[i] == "." || s[i] == "%" || s[i] == "+"
            {
                out.unicodeScalars.append(s[i])
                i += 1
            }
            return out
        }

        mutating func value() throws(CompressionError) -> String {
            skipSpace()
            if i < s.count, s[i] == "\"" {
                i += 1
                var out = ""
                while i < s.count, s[i] != "\"" {
                    out.unicodeScalars.append(s[i])
                    i += 1
                }
                guard i < s.count else { throw error("unterminated quoted value") }
                i += 1
                return out
            }
            let w = word()
            guard !w.isEmpty else { throw error("expected a value") }
            return w
        }

        mutating func pipeline() throws(CompressionError) -> [PassSpec] {
            var out: [PassSpec] = []
            skipSpace()
            guard i < s.count else { throw error("the pipeline is empty") }
            while true {
                skipSpace()
                let name = word().lowercased()
                guard !name.isEmpty else { throw error("expected a pass name") }
                var spec = PassSpec(name: name)
                skipSpace()
                if i < s.count, s[i] == "(" {
                    i += 1
                    skipSpace()
                    if i < s.count, s[i] == ")" {
                        i += 1
                    } else {
                        while true {
                            skipSpace()
                            let key = word().lowercased()
                            guard !key.isEmpty else { throw error("expected a parameter name") }
                            skipSpace()
                            guard i < s.count, s[i] == "=" else { throw error("expected '=' after '\(key)'") }
                            i += 1
                            let v = try value()
                            spec.arguments.append(.init(key, v))
                            skipSpace()
                            guard i < s.count else { throw error("missing ')'") }
                            if s[i] == "," {
                                i += 1
                                continue
                            }
                            guard s[i] == ")" else { throw error("expected ',' or ')'") }
                            i += 1
                            break
                        }
                    }
                }
                out.append(spec)
                skipSpace()
                if i == s.count { return out }
                guard s[i] == "," || s[i] == "|" else { throw error("expected ',' between passes") }
                i += 1
            }
        }
    }
}
