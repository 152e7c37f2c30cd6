// The one WebSocket to /api/v1/ws, kept open: reconnects with a capped backoff, notices a
// silent drop (no message for `staleMs`, although the server ticks and answers pings), and
// tells the page when it is live again so it can catch up on what it missed (no reload).

export type SocketState = "connecting" | "live" | "down";

/** The part of the browser's WebSocket this module uses (tests pass a fake). */
export interface SocketLike {
  readonly readyState: number; // 1 = OPEN
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(): void;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface LiveSocketOptions {
  url: string;
  open: (url: string) => SocketLike;
  onMessage: (message: unknown) => void;
  onState: (state: SocketState, attempt: number) => void;
  /** Called on every open; `reconnected` is false only the first time. */
  onLive: (reconnected: boolean) => void;
  clock?: Clock;
  delaysMs?: readonly number[];
  pingMs?: number;
  staleMs?: number;
}

const BROWSER_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => window.setTimeout(fn, ms),
  clearTimeout: (handle) => window.clearTimeout(handle as number),
};

const OPEN = 1;

export const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000] as const;

export class LiveSocket {
  private socket: SocketLike | null = null;
  private attempt = 0;
  private everOpened = false;
  private stopped = false;
  private lastMessageAt = 0;
  private retryTimer: unknown = null;
  private watchTimer: unknown = null;
  private readonly clock: Clock;
  private readonly delays: readonly number[];
  private readonly pingMs: number;
  private readonly staleMs: number;

  constructor(private readonly options: LiveSocketOptions) {
    this.clock = options.clock ?? BROWSER_CLOCK;
    this.delays = options.delaysMs ?? RETRY_DELAYS_MS;
    this.pingMs = options.pingMs ?? 10_000;
    this.staleMs = options.staleMs ?? 25_000;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Drop the current socket and open a new one at once (a new session: sign in or out). */
  restart(): void {
    this.teardown();
    this.attempt = 0;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.teardown();
  }

  private connect(): void {
    this.options.onState("connecting", this.attempt);
    const socket = this.options.open(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.lastMessageAt = this.clock.now();
      this.options.onState("live", 0);
      this.watch();
      this.options.onLive(reconnected);
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.lastMessageAt = this.clock.now();
      let message: unknown;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        return; // not ours to understand; the server only sends JSON
      }
      this.options.onMessage(message);
    };
    socket.onerror = () => {
      /* a close follows every error; handled there */
    };
    socket.onclose = () => {
      if (this.socket !== socket) return; // replaced on purpose
      this.lost();
    };
  }

  private lost(): void {
    this.teardown();
    if (this.stopped) return;
    const delay = this.delays[Math.min(this.attempt, this.delays.length - 1)];
    this.attempt += 1;
    this.options.onState("down", this.attempt);
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  /** Ping on a timer; a socket silent for `staleMs` is dead even if no close came. */
  private watch(): void {
    this.watchTimer = this.clock.setTimeout(() => {
      this.watchTimer = null;
      if (!this.socket) return;
      if (this.clock.now() - this.lastMessageAt >= this.staleMs) {
        this.lost();
        return;
      }
      // A closing socket is left to its onclose (sending on it logs an error in browsers).
      if (this.socket.readyState === OPEN) this.socket.send(JSON.stringify({ type: "ping" }));
      this.watch();
    }, this.pingMs);
  }

  private teardown(): void {
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    if (this.watchTimer !== null) this.clock.clearTimeout(this.watchTimer);
    this.retryTimer = this.watchTimer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch {
        /* already closed */
      }
    }
  }
}
