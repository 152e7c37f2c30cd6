import { afterEach, describe, expect, it, vi } from "vitest";
import {
  api, ApiError, engine, holdRequests, OUTCOME_RETRY_MS, ownOrder, releaseRequests,
} from "../src/api";

function reply(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

describe("holding requests while signing out", () => {
  afterEach(() => {
    releaseRequests();
    vi.unstubAllGlobals();
  });

  it("waits for requests in flight, then refuses new ones quietly (status 0)", async () => {
    let answer: (r: Response) => void = () => {};
    const fetch = vi.fn(() => new Promise<Response>((resolve) => (answer = resolve)));
    vi.stubGlobal("fetch", fetch);
    const inFlight = api<{ ok: boolean }>("/api/v1/account");
    let held = false;
    const hold = holdRequests().then(() => (held = true));
    await Promise.resolve();
    expect(held).toBe(false); // the account read is still out
    answer(reply(200, { ok: true }));
    await expect(inFlight).resolves.toEqual({ ok: true });
    await hold;
    expect(held).toBe(true);
    await expect(api("/api/v1/trades/open")).rejects.toEqual(new ApiError("signing out", 0));
    expect(fetch).toHaveBeenCalledTimes(1); // the refused read never left
  });

  it("lets the sign-out itself through, and everything after the release", async () => {
    const fetch = vi.fn(async () => reply(200, { message: "signed out" }));
    vi.stubGlobal("fetch", fetch);
    await holdRequests();
    await api("/api/v1/user/logout", { method: "POST", whileHeld: true });
    releaseRequests();
    await api("/api/v1/price?asset=SOL_USDC");
    expect(fetch).toHaveBeenCalledTimes(2);
  });
});

describe("the page's own orders", () => {
  afterEach(() => vi.unstubAllGlobals());

  function sentOrderId(fetch: ReturnType<typeof vi.fn>, call = 0): string {
    const init = fetch.mock.calls[call][1] as RequestInit;
    return (JSON.parse(String(init.body)) as { orderId: string }).orderId;
  }

  it("knows a command's orderId from its sending on, so its event needs no refresh", async () => {
    let answer: (r: Response) => void = () => {};
    const fetch = vi.fn(() => new Promise<Response>((resolve) => (answer = resolve)));
    vi.stubGlobal("fetch", fetch);
    const sent = engine({ command: "CLOSE_TRADE", tradeId: "t-1" });
    await Promise.resolve();
    const orderId = sentOrderId(fetch);
    expect(ownOrder(orderId)).toBe(true); // an event may come before the answer
    answer(reply(200, { success: true, orderId, engineResponse: { status: "ok", data: {} } }));
    await sent;
    expect(ownOrder(orderId)).toBe(true);
    expect(ownOrder(null)).toBe(false); // caused by a price, not a command
    expect(ownOrder("another-page's-order")).toBe(false);
  });

  it("forgets a command that failed: if it was applied after all, its event refreshes", async () => {
    const fetch = vi.fn(async () => reply(400, { success: false, error: "INVALID_MARGIN" }));
    vi.stubGlobal("fetch", fetch);
    await expect(engine({ command: "CLOSE_TRADE", tradeId: "t-2" })).rejects.toBeInstanceOf(
      ApiError);
    expect(ownOrder(sentOrderId(fetch))).toBe(false);
  });

  it("keeps only the newest hundred", async () => {
    const fetch = vi.fn(async () => reply(200, { engineResponse: { data: {} } }));
    vi.stubGlobal("fetch", fetch);
    for (let i = 0; i < 101; i++) await engine({ command: "GET_USD_BALANCE" });
    expect(ownOrder(sentOrderId(fetch, 0))).toBe(false);
    expect(ownOrder(sentOrderId(fetch, 1))).toBe(true);
    expect(ownOrder(sentOrderId(fetch, 100))).toBe(true);
  });
});

describe("a command whose connection was lost", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("is sent once more under the same orderId, and the second answer counts", async () => {
    const fetch = vi.fn()
      .mockRejectedValueOnce(new TypeError("Failed to fetch"))
      .mockResolvedValueOnce(reply(200, { engineResponse: { data: { tradeId: "t-3" } } }));
    vi.stubGlobal("fetch", fetch);
    await expect(engine({ command: "CLOSE_TRADE", tradeId: "t-3" })).resolves.toEqual(
      { tradeId: "t-3" });
    expect(fetch).toHaveBeenCalledTimes(2);
    const bodies = fetch.mock.calls.map((call) => String((call[1] as RequestInit).body));
    expect(bodies[1]).toBe(bodies[0]);
  });
});

describe("telling the page the exchange is reachable again", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("calls its listeners on any answer, an error status too, and not on a lost request", async () => {
    const { UNREACHABLE, whenReachable } = await import("../src/api");
    const heard = vi.fn();
    whenReachable(heard);
    vi.stubGlobal("fetch", vi.fn(async () => { throw new TypeError("Failed to fetch"); }));
    await expect(api("/api/v1/account")).rejects.toEqual(new ApiError(UNREACHABLE, 0));
    expect(heard).not.toHaveBeenCalled();
    vi.stubGlobal("fetch", vi.fn(async () => reply(401, { error: "not signed in" })));
    await expect(api("/api/v1/account")).rejects.toMatchObject({ status: 401 });
    expect(heard).toHaveBeenCalledTimes(1);
    vi.stubGlobal("fetch", vi.fn(async () => reply(200, { ok: true })));
    await api("/api/v1/account");
    expect(heard).toHaveBeenCalledTimes(2);
  });
});

describe("an order whose outcome is not known", () => {
  afterEach(() => vi.unstubAllGlobals());

  const timeout = (): Response =>
    reply(504, { success: false, code: "ENGINE_TIMEOUT", error: "engine did not answer in time" });
  const noWait = async (): Promise<void> => {};

  function orderIds(fetch: ReturnType<typeof vi.fn>): string[] {
    return fetch.mock.calls.map((call) =>
      (JSON.parse(String((call[1] as RequestInit).body)) as { orderId: string }).orderId);
  }

  it("is asked again under the same orderId until the answer comes", async () => {
    const answers = [timeout(), reply(503, { code: "ENGINE_UNAVAILABLE", error: "away" }),
      reply(200, { engineResponse: { status: "ok", data: { tradeId: "t-9" } } })];
    const fetch = vi.fn(async () => answers.shift() as Response);
    vi.stubGlobal("fetch", fetch);
    const unknown = vi.fn();
    const opened = await engine<{ tradeId: string }>(
      { command: "CREATE_TRADE", asset: "SOL_USDC" }, unknown, noWait);
    expect(opened.tradeId).toBe("t-9");
    expect(unknown).toHaveBeenCalledTimes(1);
    const ids = orderIds(fetch);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(1); // one command, asked about three times
    expect(ownOrder(ids[0])).toBe(true);
  });

  it("a refusal before any doubt is final, and is not asked again", async () => {
    const fetch = vi.fn(async () => reply(503, { code: "ENGINE_UNAVAILABLE", error: "not sent" }));
    vi.stubGlobal("fetch", fetch);
    const unknown = vi.fn();
    await expect(engine({ command: "CREATE_TRADE" }, unknown, noWait)).rejects.toMatchObject({
      code: "ENGINE_UNAVAILABLE" });
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(unknown).not.toHaveBeenCalled();
  });

  it("gives up after a while saying the outcome is not known, and forgets the orderId", async () => {
    const fetch = vi.fn(async () => timeout());
    vi.stubGlobal("fetch", fetch);
    await expect(engine({ command: "CLOSE_TRADE", tradeId: "t-3" }, () => {}, noWait))
      .rejects.toMatchObject({ code: "OUTCOME_UNKNOWN" });
    expect(fetch).toHaveBeenCalledTimes(OUTCOME_RETRY_MS.length + 1);
    expect(ownOrder(orderIds(fetch)[0])).toBe(false); // if it runs after all, its event reloads
  });
});
