// Loads a model, compresses it with a preset and writes the .mpz, through the public library API only.
// Usage: consumer MODEL OUT.mpz
import Foundation
import ModelIR
import ModelPress

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    print("usage: consumer MODEL OUT.mpz")
    exit(64)
}
do {
    let loaded = try ModelPress.load(arguments[1])
    let compressed = try ModelPress.compress(loaded.model, selection: PassSelection(preset: .balanced))
    let summary = try ModelPress.writeMPZ(compressed.model, to: arguments[2])
    let tensors = loaded.model.graph.initializers.count
    print("consumer: \(arguments[1]): \(tensors) initializers, \(loaded.fileBytes) B -> \(summary.fileBytes) B .mpz")
} catch {
    print("consumer: error: \(error.message)")
    exit(1)
}
