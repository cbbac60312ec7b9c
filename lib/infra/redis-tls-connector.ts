import type { ErrorEmitter } from "ioredis/built/connectors/AbstractConnector";
import StandaloneConnector from "ioredis/built/connectors/StandaloneConnector";
import type { NetStream } from "ioredis/built/types";

/**
 * ioredis listens for its socket's errors with `once`. A TLS socket can emit a
 * second one — a refused certificate, then the alert the server answers with
 * (`tlsv1 alert decode error`) — and with no listener left Node throws it as
 * an uncaught exception: a node with a wrong rediss:// CA could crash instead
 * of reporting and reconnecting. This connector keeps a listener on every
 * socket it opens for as long as the socket lives; the client still gets the
 * first error, as before, and reports it.
 */
export class TlsSocketErrorGuard extends StandaloneConnector {
  override async connect(onError: ErrorEmitter): Promise<NetStream> {
    const stream = await super.connect(onError);
    stream.on("error", () => undefined);
    return stream;
  }
}
