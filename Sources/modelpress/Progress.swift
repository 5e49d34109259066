import Dispatch
import Foundation

/// A one-line progress indicator on standard error: shown only when standard error is a terminal,
/// only once the work has taken more than a second, and never with `--quiet`.
final class Progress: @unchecked Sendable {
    private let lock = NSLock()
    private let start = DispatchTime.now()
    private var stage = ""
    private var shown = false
    private var timer: DispatchSourceTimer?

    init(quiet: Bool) {
        guard !quiet, isatty(2) == 1 else { return }
        let t = DispatchSource.makeTimerSource(queue: .global())
        t.schedule(deadline: .now() + 1, repeating: 0.25)
        t.setEventHandler { [weak self] in self?.tick() }
        t.resume()
        timer = t
    }

    /// Names what is being done now: `reading`, `compressing`, `writing x.mpz`.
    func stage(_ text: String) {
        lock.lock()
        stage = text
        lock.unlock()
    }

    private func tick() {
        lock.lock()
        defer { lock.unlock() }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        writeStandardError("\rmodelpress: \(stage) (\(Int(seconds)) s)\u{1B}[K")
        shown = true
    }

    /// Stops the indicator and clears its line.
    func finish() {
        timer?.cancel()
        timer = nil
        lock.lock()
        defer { lock.unlock() }
        if shown { writeStandardError("\r\u{1B}[K") }
        shown = false
    }

    deinit { timer?.cancel() }
}
