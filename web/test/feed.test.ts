import { describe, expect, it } from "vitest";
import css from "../src/style.css?raw";
import { type FeedNews, stalePricesPause, stalePricesText, staleSince } from "../src/feed";
import { timeOfDay } from "../src/format";

/** The stale-since value after each piece of news, each at its own time (1, 2, 3, ...). */
function through(states: FeedNews[]): (number | null)[] {
  let since: number | null = null;
  return states.map((state, i) => (since = staleSince(since, state, i + 1)));
}

describe("stale prices", () => {
  it("are stale from the moment the socket is lost until a price comes on a new one", () => {
    // Live again, the socket has sent nothing yet: the prices on the page are the old ones.
    expect(through(["connecting", "live", "down", "connecting", "down", "connecting", "live",
      "price"])).toEqual([null, null, 3, 3, 3, 3, 3, null]);
  });

  it("are not stale for a restart (a new session) that never lost the socket", () => {
    expect(through(["connecting", "live", "connecting", "live"])).toEqual([null, null, null, null]);
  });

  it("are stale when the first connection fails: the page's prices are a snapshot", () => {
    expect(through(["connecting", "down", "connecting", "live", "price"]))
      .toEqual([null, 2, 2, 2, null]);
  });

  it("are stale from the server's word that its price stream broke until a price comes", () => {
    // The socket stays live meanwhile: only a price ends it, not a new socket without one.
    expect(through(["live", "price", "interrupted", "interrupted", "live", "interrupted", "price"]))
      .toEqual([null, null, 3, 3, 3, 3, null]);
    expect(through(["live", "interrupted", "down", "connecting", "live", "price"]))
      .toEqual([null, 2, 2, 2, 2, null]);
  });

  it("say since when, and why the ticket waits", () => {
    const at = new Date(2026, 10, 29, 14, 2, 31).getTime();
    expect(timeOfDay(at)).toBe("14:02:31");
    expect(stalePricesText(at)).toBe("Prices stale since 14:02:31: reconnecting to the price feed…");
    // Only new orders wait: a position still closes, so the note claims no more than that.
    expect(stalePricesPause(at)).toBe("New orders are paused: no live prices since 14:02:31. " +
      "They resume with the next live price; positions can still be closed, at the exchange's price.");
  });

  it("dim every figure read from them, the previews of the ticket and of the part close", () => {
    const rule = /body\.prices-stale :is\(([^)]*)\)/.exec(css);
    const dimmed = (rule?.[1] ?? "").split(",").map((s) => s.trim());
    expect(dimmed).toEqual(expect.arrayContaining(["#preview dd", "#cp-preview dd", "#m-market dd",
      "#account dd", "td.pnl", "td.mark"]));
  });
});
