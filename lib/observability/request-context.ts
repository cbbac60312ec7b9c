import { AsyncLocalStorage } from "node:async_hooks";
import type { Context, Middleware } from "moleculer";
import { TraceParent, traceParentOf } from "./tracing";

/**
 * The request (or saga) a piece of work belongs to, carried through async
 * calls so every log line can name it without passing it around.
 */
export interface RequestContext {
  requestId?: string;
  correlationId?: string;
  sagaId?: string;
  /** The span the work runs in (tracing on): the parent of the messages it enqueues. */
  trace?: TraceParent;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

export function runWithRequestContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...context }, fn);
}

function fromMoleculerContext(ctx: Context): RequestContext {
  const meta = (ctx.meta ?? {}) as { sagaId?: string; correlationId?: string };
  return {
    requestId: ctx.requestID ?? undefined,
    correlationId: meta.correlationId ?? ctx.requestID ?? undefined,
    sagaId: meta.sagaId,
    trace: traceParentOf(ctx),
  };
}

type Handler = (ctx: Context) => unknown;

/** Runs every local action and event handler inside its caller's request context. */
export function RequestContextMiddleware(): Middleware {
  return {
    name: "RequestContext",
    localAction(next: Handler) {
      return (ctx: Context) => storage.run(fromMoleculerContext(ctx), () => next(ctx));
    },
    localEvent(next: Handler) {
      return (ctx: Context) => storage.run(fromMoleculerContext(ctx), () => next(ctx));
    },
  } as Middleware;
}
