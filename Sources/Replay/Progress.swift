import Foundation
import Learning
import Pipelines

/// A progress line on stderr for long replays: redrawn in place on a terminal, a line every few seconds otherwise.
/// Silent for runs shorter than a second.
public struct Progress {
    let start = monotonicSeconds()
    var lastDraw = 0.0
    let interactive: Bool
    var drawn = false

    public init() { interactive = isatty(2) != 0 }

    public mutating func update(events: UInt64, bytes: UInt64, total: UInt64?, metrics m: ProgressiveMetrics) {
        let now = monotonicSeconds()
        let elapsed = now - start
        guard elapsed > 1, now - lastDraw >= (interactive ? 0.2 : 5) else { return }
        lastDraw = now
        var line = ""
        if let total, total > 0 {
            let fraction = min(1, Double(bytes) / Double(total))
            let width = 24
            let filled = Int(fraction * Double(width))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            line += String(format: "%5.1f%% ", fraction * 100)
        }
        line += String(format: "%llu events  %.0f ev/s  logloss %.4f  auc %.4f", events, Double(events) / elapsed, m.logloss, m.auc)
        FileHandle.standardError.write(Data(((interactive ? "\r" : "") + line + (interactive ? "" : "\n")).utf8))
        drawn = true
    }

    public mutating func finish() {
        if drawn && interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
