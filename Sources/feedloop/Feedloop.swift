import ArgumentParser

/// `feedloop`: streaming online learning for personalization.
@main
struct Feedloop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feedloop",
        abstract: "Streaming online learning: click/purchase events in, refreshed personalization scores out.",
        subcommands: [ReplayCommand.self, CheckCommand.self])
}
