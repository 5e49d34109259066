import ArgumentParser
import Foundation
import ModelPress

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a model file holds: producer, opsets, inputs, outputs, operators, parameters.",
        discussion: """
            The report reads the model without running anything in it. --json prints the same report as \
            JSON following schemas/inspect.schema.json. --tensors adds every tensor with min, max, mean, \
            std and fraction of zeros.
            """
    )

    @Argument(help: "The model file (.onnx, .h5, .hdf5, .keras), or - for standard input.")
    var file: String

    @Flag(help: "Print the report as JSON (schema: schemas/inspect.schema.json).")
    var json = false

    @Flag(help: "List every tensor with statistics.")
    var tensors = false

    func run() throws {
        try runReportingErrors { () throws(ModelPressError) in
            let loaded = try ModelPress.load(file)
            let report = InspectReport(loaded, includeTensors: tensors)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                do {
                    let data = try encoder.encode(report)
                    FileHandle.standardOutput.write(data)
                    FileHandle.standardOutput.write(Data("\n".utf8))
                } catch {
                    throw ModelPressError(.output, "\(file): cannot encode the report as JSON: \(error)")
                }
            } else {
                print(report.renderText(), terminator: "")
            }
        }
    }
}
