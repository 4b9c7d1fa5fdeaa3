import ArgumentParser

/// `feedloop`: streaming online learning for personalization.
@main
struct Feedloop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feedloop",
        abstract: "Streaming online learning: click/purchase events in, refreshed personalization scores out.",
        subcommands: [
            WorkerCommand.self, ReplayCommand.self, ProduceCommand.self, TopicsCommand.self, TailCommand.self, CheckCommand.self,
            BanditLogCommand.self,
        ])
}
