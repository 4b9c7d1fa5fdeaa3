import NIOCore
import NIOHTTP1

/// Marks a request that does not keep its connection alive — HTTP/1.0 without `Connection: keep-alive`, or any
/// `Connection: close` however spelled — with exactly `Connection: close`, the form Hummingbird's connection loop
/// reads to close after the response. Without it a plain HTTP/1.0 client (one that reads to the end of the
/// stream) would wait for the idle timeout: the conversion to HTTP types further up the pipeline drops the version.
/// Sits between NIO's HTTP/1 decoder and that conversion; changes nothing else.
final class CloseUnlessKeepAliveHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), !head.isKeepAlive else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
