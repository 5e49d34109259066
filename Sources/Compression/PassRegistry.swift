/// Every pass the pipeline can name.
public enum PassRegistry {
    public static let all: [PassDefinition] = [
        PrunePass.definition,
        ChannelPrunePass.definition,
        ClipPass.definition,
        LinearPass.definition,
        KMeansPass.definition,
        FloatCastPass.definition(.float16),
        FloatCastPass.definition(.bfloat16),
        SignPass.definition(ternary: false),
        SignPass.definition(ternary: true),
        AutoPass.definition,
        HuffmanPass.definition,
    ]

    /// The definition named `name`, or a usage error listing the valid ones.
    public static func definition(_ name: String) throws(CompressionError) -> PassDefinition {
        guard let d = all.first(where: { $0.name == name }) else {
            throw CompressionError(
                .usage, "unknown pass '\(name)'; valid passes: \(all.map(\.name).joined(separator: ", "))")
        }
        return d
    }

    /// Builds the pass a spec describes, checking its parameters.
    public static func make(_ spec: PassSpec) throws(CompressionError) -> any Pass {
        let d = try definition(spec.name)
        let args = try PassArguments(definition: d, arguments: spec.arguments.map { ($0.name, $0.value) })
        return try d.make(args)
    }

    /// A help text listing every pass and its parameters.
    public static var helpText: String {
        var lines: [String] = []
        for d in all {
            lines.append("\(d.name): \(d.summary)")
            for p in d.parameters {
                lines.append(
                    "    \(p.name)=\(p.values)" + (p.defaultValue.map { " (default \($0))" } ?? "") + ": \(p.summary)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
