import { describe, expect, it } from "vitest";
import { type Clock, LiveSocket, type SocketLike, type SocketState } from "../src/socket";

class FakeSocket implements SocketLike {
  readyState = 1;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: string[] = [];
  closed = false;
  send(data: string): void { this.sent.push(data); }
  close(): void { this.closed = true; }
}

/** A manual clock: timers run only when the test advances time. */
class FakeClock implements Clock {
  t = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void { this.timers.delete(handle as number); }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
  pending(): number { return this.timers.size; }
}

function setup() {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const states: [SocketState, number][] = [];
  const lives: boolean[] = [];
  const messages: unknown[] = [];
  const live = new LiveSocket({
    url: "ws://x/api/v1/ws",
    open: () => { const s = new FakeSocket(); sockets.push(s); return s; },
    onMessage: (m) => messages.push(m),
    onState: (s, a) => states.push([s, a]),
    onLive: (r) => lives.push(r),
    clock, delaysMs: [500, 1000, 2000], pingMs: 1000, staleMs: 3000,
  });
  return { clock, sockets, states, lives, messages, live };
}

describe("LiveSocket", () => {
  it("passes JSON messages on and ignores what is not JSON", () => {
    const { sockets, live, messages } = setup();
    live.start();
    sockets[0].onopen?.({});
    sockets[0].onmessage?.({ data: '{"type":"price"}' });
    sockets[0].onmessage?.({ data: "garbage" });
    expect(messages).toEqual([{ type: "price" }]);
  });

  it("reconnects with a growing, capped delay and says it is down meanwhile", () => {
    const { clock, sockets, states, live, lives } = setup();
    live.start();
    sockets[0].onopen?.({});
    expect(lives).toEqual([false]);
    sockets[0].onclose?.({});
    expect(states.at(-1)).toEqual(["down", 1]);
    clock.advance(499);
    expect(sockets.length).toBe(1);
    clock.advance(1);
    expect(sockets.length).toBe(2);
    sockets[1].onclose?.({}); // failed again: 1000 ms
    clock.advance(999);
    expect(sockets.length).toBe(2);
    clock.advance(1);
    expect(sockets.length).toBe(3);
    sockets[2].onclose?.({});
    clock.advance(2000);
    sockets[3].onclose?.({}); // capped at the last delay
    clock.advance(1999);
    expect(sockets.length).toBe(4);
    clock.advance(1);
    expect(sockets.length).toBe(5);
    sockets[4].onopen?.({});
    expect(states.at(-1)).toEqual(["live", 0]);
    expect(lives).toEqual([false, true]); // the page catches up on this one
  });

  it("pings, and treats a silent socket as dead even without a close", () => {
    const { clock, sockets, live, states } = setup();
    live.start();
    sockets[0].onopen?.({});
    clock.advance(1000);
    expect(sockets[0].sent).toEqual(['{"type":"ping"}']);
    sockets[0].onmessage?.({ data: '{"type":"pong"}' });
    sockets[0].readyState = 2; // closing: no ping is sent on it
    clock.advance(1000);
    expect(sockets[0].sent.length).toBe(1);
    clock.advance(1500); // 1500 ms since the pong: still alive
    expect(sockets[0].closed).toBe(false);
    clock.advance(500); // 3000 ms of silence, seen by the check at t = 4000
    expect(sockets[0].closed).toBe(true);
    expect(states.at(-1)?.[0]).toBe("down");
    clock.advance(500);
    expect(sockets.length).toBe(2);
  });

  it("ignores events from a socket it replaced, and stops for good on stop()", () => {
    const { clock, sockets, live, messages } = setup();
    live.start();
    const first = sockets[0];
    const onmessage = first.onmessage;
    live.restart();
    expect(first.closed).toBe(true);
    expect(sockets.length).toBe(2);
    onmessage?.({ data: '{"stale":true}' });
    expect(messages).toEqual([]);
    live.stop();
    expect(sockets[1].closed).toBe(true);
    clock.advance(60_000);
    expect(sockets.length).toBe(2);
    expect(clock.pending()).toBe(0);
  });
});
