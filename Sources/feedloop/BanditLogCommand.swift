import ArgumentParser
import Foundation
import Replay

/// `feedloop bandit-log` (hidden): writes the synthetic logged bandit of ``LoggedBandit`` — a decision log and its
/// events — and prints the exact values of the reference policies, for `bench/ope` and the documentation.
struct BanditLogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bandit-log",
        abstract: "Write a synthetic logged bandit (ε-greedy logging, known click probabilities): decisions and events.",
        shouldDisplay: false)

    @Option(name: .long, help: "Seed of the world and of the log.")
    var seed: UInt64 = 1

    @Option(name: .customLong("count"), help: "Decisions to log.")
    var count = 100_000

    @Option(name: .long, help: "Exploration rate of the logging policy.")
    var epsilon = 0.3

    @Option(name: .long, help: "Decision log to write (JSONL).")
    var decisions: String

    @Option(name: .long, help: "Event log to write (JSONL): a view of each decision's first item, and a click when the user clicked.")
    var events: String

    @Option(name: .long, help: "Also write the world here (JSON): click_probability[segment][item], segments s<c>, items i<a>.")
    var world: String?

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count: at least 1") }
        guard epsilon >= 0, epsilon <= 1 else { throw ValidationError("--epsilon: between 0 and 1") }
    }

    func run() throws {
        var configuration = LoggedBandit.Configuration(seed: seed)
        configuration.epsilon = epsilon
        var bandit = LoggedBandit(configuration)
        guard FileManager.default.createFile(atPath: decisions, contents: nil), FileManager.default.createFile(atPath: events, contents: nil),
              let d = FileHandle(forWritingAtPath: decisions), let e = FileHandle(forWritingAtPath: events)
        else { throw ValidationError("cannot create \(decisions) or \(events)") }
        var decisionText = "", eventText = ""
        for i in 0..<count {
            let decision = bandit.next()
            decisionText += bandit.decisionLine(decision) + "\n"
            for line in bandit.eventLines(decision) { eventText += line + "\n" }
            if i % 4096 == 4095 || i == count - 1 {
                d.write(Data(decisionText.utf8))
                e.write(Data(eventText.utf8))
                decisionText = ""
                eventText = ""
            }
        }
        try d.close()
        try e.close()
        if let world {
            let items = bandit.configuration.items
            let table = (0..<bandit.configuration.segments).map { c in Array(bandit.clickProbability[(c * items)..<((c + 1) * items)]) }
            try JSONSerialization.data(withJSONObject: ["click_probability": table]).write(to: URL(fileURLWithPath: world))
        }
        print("true value: uniform \(bandit.uniformValue) logged \(bandit.loggedValue)")
    }
}
