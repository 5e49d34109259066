import Foundation

/// Runs the built `modelpress` binary, for end-to-end tests.
public enum ModelPressBinary {
    /// `MODELPRESS_BIN`, or `.build/debug/modelpress` in the repository.
    public static var path: String {
        ProcessInfo.processInfo.environment["MODELPRESS_BIN"]
            ?? Fixtures.repoRoot.appendingPathComponent(".build/debug/modelpress").path
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: String
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        /// Non-empty lines of standard error.
        public var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
    }

    /// Runs the binary with `arguments` and optional standard input; waits at most `timeout` seconds.
    public static func run(_ arguments: [String], stdin: [UInt8]? = nil, timeout: TimeInterval = 60) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        let inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdin == nil ? FileHandle.nullDevice : inp
        try p.run()
        if let stdin {
            let handle = inp.fileHandleForWriting
            DispatchQueue.global().async {
                handle.write(Data(stdin))
                try? handle.close()
            }
        }
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            outData = out.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
            throw TimeoutError(arguments: arguments)
        }
        p.waitUntilExit()
        group.wait()
        return Result(
            status: p.terminationStatus, stdout: [UInt8](outData), stderr: String(decoding: errData, as: UTF8.self))
    }

    public struct TimeoutError: Error, CustomStringConvertible {
        public var arguments: [String]
        public var description: String { "modelpress \(arguments.joined(separator: " ")) did not finish in time" }
    }
}
