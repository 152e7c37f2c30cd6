import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError, holdRequests, releaseRequests } from "../src/api";

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
