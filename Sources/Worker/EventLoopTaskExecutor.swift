import NIOCore

/// A task executor that runs jobs on one NIO event loop. The HTTP server handles each connection under this
/// preference for the connection's own event loop, so answering `/healthz` needs no thread of Swift concurrency's
/// cooperative pool, however busy other work keeps that pool. Invariant: a job runs once, on `eventLoop`; handler
/// code run this way must not block (it holds up the other connections of that loop).
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
