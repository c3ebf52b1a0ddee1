import { encodeEdgeFrame, type EdgeMessage } from '../../../shared/protocol/index.ts';

/** What each runner socket carries across hibernation (WebSocket attachments). */
export interface SocketAttachment {
  runnerId: string;
  helloed: boolean;
  /** The instance and host named in hello (null for a runner that names none). */
  instanceId?: string | null;
  host?: string | null;
  openedAt?: number;
}

/**
 * The runners' sockets (WebSocket Hibernation API, tagged with the runner id). A runner's link is a socket that has
 * said hello and is open; a connection still to say hello, or refused, is not one and is never sent work.
 */
export class RunnerSockets {
  readonly #ctx: DurableObjectState;

  constructor(ctx: DurableObjectState) {
    this.#ctx = ctx;
  }

  all(runnerId: string): WebSocket[] {
    return this.#ctx.getWebSockets(runnerId);
  }

  linksOf(runnerId: string): WebSocket[] {
    return this.all(runnerId).filter((ws) => ws.readyState === WebSocket.OPEN && attachmentOf(ws).helloed);
  }

  send(ws: WebSocket, message: EdgeMessage): void {
    try {
      ws.send(encodeEdgeFrame(message));
    } catch {
      // The socket is closing; the runner resends after it reconnects.
    }
  }

  sendTo(runnerId: string, message: EdgeMessage): void {
    for (const ws of this.linksOf(runnerId)) this.send(ws, message);
  }

  /** When the runtime last answered a ping on `ws` without waking the object (0 if never). */
  lastPong(ws: WebSocket): number {
    return this.#ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
  }
}

export function attachmentOf(ws: WebSocket): SocketAttachment {
  return ws.deserializeAttachment() as SocketAttachment;
}
