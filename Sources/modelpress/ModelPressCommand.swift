import ArgumentParser
import ModelPress

#if canImport(Glibc)
    import Glibc
#endif

@main
struct ModelPressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modelpress",
        abstract: "Inspect, convert and compress Keras HDF5 and ONNX model files.",
        discussion: """
            Exit status: 0 success; 64 usage error (bad arguments or options); 1 failure (the input \
            cannot be read or is not a valid model, or the output cannot be written; nothing is written \
            then). Errors are one line on standard error naming the file. `-` reads standard input or \
            writes standard output, so every command works in a pipeline.
            """,
        version: ModelPress.version,
        subcommands: [InspectCommand.self, ConvertCommand.self, CompressCommand.self, DecompressCommand.self]
    )

    /// Parses and runs the command. A usage error found while parsing is one line on standard error
    /// (`modelpress: error: ...`, exit 64), like every other error; `--help` and `--version` print as usual.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let code as ExitCode {
            exit(withError: code)
        } catch {
            guard exitCode(for: error) != .success else { exit(withError: error) }
            let message = self.message(for: error).split(whereSeparator: \.isNewline).joined(separator: " ")
            writeStandardError("modelpress: error: \(message)\n")
            exit(withError: ExitCode(exitCode(for: error).rawValue))
        }
    }
}

/// Runs `body`, turning library errors into one line on stderr and the documented exit status.
func runReportingErrors(_ body: () throws(ModelPressError) -> Void) throws {
    do {
        try body()
    } catch {
        let line =
            "modelpress: error: " + error.message.split(whereSeparator: \.isNewline).joined(separator: " ") + "\n"
        writeStandardError(line)
        throw ExitCode(error.code == .usage ? 64 : 1)
    }
}

/// Writes `text` to standard error, unbuffered.
func writeStandardError(_ text: String) {
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { p in
        var done = 0
        while done < p.count {
            let n = write(2, p.baseAddress! + done, p.count - done)
            if n <= 0 { return }
            done += n
        }
    }
}
