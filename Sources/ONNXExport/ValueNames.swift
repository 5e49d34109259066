import Compression
import ModelIR

/// Every value and node name a model uses, handing out new ones that collide with none of them.
///
/// Names are collected over the whole model (every graph at any depth, function bodies, training graphs),
/// so a new name cannot shadow an outer-scope value or clash in a sibling branch. O(names) to build.
struct ValueNames {
    private var values: Set<String> = []
    private var nodes: Set<String> = []

    init(_ model: Model) {
        var values: Set<String> = []
        var nodes: Set<String> = []
        func collect(_ list: [Node]) {
            for n in list {
                if let name = n.name { nodes.insert(name) }
                values.formUnion(n.inputs)
                values.formUnion(n.outputs)
            }
        }
        model.visitGraphs { _, _, g in
            for v in g.inputs + g.outputs + g.valueInfo { if let name = v.name { values.insert(name) } }
            for t in g.initializers { if let name = t.name { values.insert(name) } }
            for s in g.sparseInitializers { if let name = s.values?.name { values.insert(name) } }
            collect(g.nodes)
        }
        for f in model.functions {
            values.formUnion(f.inputs)
            values.formUnion(f.outputs)
            collect(f.nodes)
        }
        self.values = values
        self.nodes = nodes
    }

    /// `base` if no value has that name yet, else `base_1`, `base_2`, ...; the name is then taken.
    mutating func value(_ base: String) -> String { Self.take(base, from: &values) }

    /// The same for node names.
    mutating func node(_ base: String) -> String { Self.take(base, from: &nodes) }

    private static func take(_ base: String, from used: inout Set<String>) -> String {
        var name = base
        var k = 1
        while used.contains(name) {
            name = base + "_\(k)"
            k += 1
        }
        used.insert(name)
        return name
    }
}
