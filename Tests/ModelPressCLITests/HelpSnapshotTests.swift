import Foundation
import TestSupport
import Testing

/// `--help` of every command, compared with the committed text in `HelpSnapshots/`.
///
/// These are regression goldens recorded from the binary: a difference means the command line changed. When the
/// change is meant, record the new text with `MODELPRESS_RECORD_HELP=1 swift test --filter HelpSnapshot` and
/// review the diff of `Tests/ModelPressCLITests/HelpSnapshots/` in the commit.
@Suite("--help snapshots")
struct HelpSnapshotTests {
    static let folder = Fixtures.repoRoot.appendingPathComponent("Tests/ModelPressCLITests/HelpSnapshots")

    @Test(arguments: ["modelpress", "inspect", "convert", "compress", "decompress"])
    func helpMatchesTheSnapshot(command: String) throws {
        let args = command == "modelpress" ? ["--help"] : [command, "--help"]
        let r = try ModelPressBinary.run(args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        let file = Self.folder.appendingPathComponent("\(command).txt")
        if ProcessInfo.processInfo.environment["MODELPRESS_RECORD_HELP"] == "1" {
            try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
            try Data(r.stdout).write(to: file)
            return
        }
        guard let expected = FileManager.default.contents(atPath: file.path) else {
            Issue.record("no snapshot \(file.path); record it with MODELPRESS_RECORD_HELP=1")
            return
        }
        let want = String(decoding: expected, as: UTF8.self)
        #expect(
            r.stdoutText == want, "modelpress \(args.joined(separator: " ")) differs from \(file.lastPathComponent)")
    }

    /// The exit codes are documented where users look for them.
    @Test func rootHelpDocumentsTheExitCodes() throws {
        let r = try ModelPressBinary.run(["--help"])
        for words in ["0 success", "64 usage error", "1 failure"] {
            #expect(r.stdoutText.contains(words), "root --help does not say \(words)")
        }
    }
}
