import { describe, expect, it } from "vitest";
import { SessionEnds, SIGN_OUT_MARK, sessionEndText, signOutFailure } from "../src/session-end";

function setup() {
  const stored = new Map<string, string>();
  const storage = {
    getItem: (key: string) => stored.get(key) ?? null,
    setItem: (key: string, value: string) => void stored.set(key, value),
  };
  const told: string[] = [];
  const clock = { t: 0 };
  const ends = new SessionEnds(() => storage, (text) => told.push(text), () => clock.t);
  return { stored, ends, told, clock };
}

const at = (h: number, m: number, s: number): number => new Date(2026, 10, 29, h, m, s).getTime();
const ELSEWHERE = "Signed out in another tab or window at 14:03:12.";

describe("a session ended without this page's sign-out", () => {
  it("is said to be another tab's sign-out when that tab's mark is there", () => {
    const { stored, ends, told } = setup();
    ends.began(at(14, 0, 0));
    stored.set(SIGN_OUT_MARK, String(at(14, 3, 12)));
    ends.ended(true);
    expect(told).toEqual([ELSEWHERE]);
  });

  it("is an ended session without a mark, given its reason when the mark comes late", () => {
    const { ends, told, clock } = setup();
    ends.began(at(14, 0, 0));
    clock.t = at(14, 3, 12);
    ends.ended(true); // the server's refusal came first
    expect(told).toEqual([sessionEndText(null)]);
    ends.ended(false, String(at(14, 3, 12))); // then the other tab's mark
    expect(told).toEqual(["Your session has ended: sign in again.", ELSEWHERE]);
    ends.ended(false, String(at(14, 3, 12))); // told once
    expect(told.length).toBe(2);
  });

  it("takes a late mark for the reason only if it came about when the end was told", () => {
    // Refused at 14:03:10, told without a reason: the sign-out that caused it left its mark
    // at most a moment later (the tab writes it once its logout was answered), 5 s at most.
    const { ends, told, clock } = setup();
    ends.began(at(14, 0, 0));
    clock.t = at(14, 3, 10);
    ends.ended(true);
    ends.ended(false, String(at(14, 3, 16))); // 6 s after: a later session's sign-out
    expect(told).toEqual([sessionEndText(null)]);
    ends.ended(false, String(at(14, 3, 12))); // the sign-out that ended it
    expect(told).toEqual([sessionEndText(null), ELSEWHERE]);
  });

  it("keeps an end's vagueness from a sign-out of a session started later in another tab", () => {
    const { ends, told, clock } = setup();
    ends.began(1000);
    clock.t = 2000;
    ends.ended(true); // expired
    clock.t = 9000;
    ends.ended(false, "9000"); // signed in again and out, in another tab
    expect(told).toEqual([sessionEndText(null)]);
  });

  it("ignores a mark older than the session, and says nothing to a page never signed in", () => {
    const { stored, ends, told } = setup();
    ends.began(at(14, 0, 0));
    stored.set(SIGN_OUT_MARK, String(at(13, 59, 59)));
    ends.ended(true);
    expect(told).toEqual(["Your session has ended: sign in again."]);
    expect(ends.signedOutAt("not a time")).toBeNull();
    const fresh = setup();
    fresh.ends.ended(false, String(at(14, 3, 12))); // a 401 at the start: nothing to explain
    expect(fresh.told).toEqual([]);
  });
});

describe("this page's sign-out", () => {
  /** A sign-out whose logout the test answers: `ok` or `fail`. */
  function signingOut(ends: SessionEnds) {
    const answer: { ok: () => void; fail: (err: Error) => void } = { ok: () => {}, fail: () => {} };
    const done = ends.signOut(() => new Promise<void>((ok, fail) => {
      Object.assign(answer, { ok, fail });
    }));
    return { done, answer };
  }

  it("leaves its mark only once the server has signed the session out", async () => {
    const { stored, ends, clock } = setup();
    ends.began(at(14, 0, 0));
    const { done, answer } = signingOut(ends);
    expect(stored.has(SIGN_OUT_MARK)).toBe(false); // a logout that fails ends no other tab
    clock.t = at(14, 3, 12);
    answer.ok();
    await done;
    expect(stored.get(SIGN_OUT_MARK)).toBe(String(at(14, 3, 12)));
  });

  it("never tells itself that another tab signed it out", async () => {
    const { ends, told, clock } = setup();
    ends.began(at(14, 0, 0));
    const { done, answer } = signingOut(ends);
    ends.ended(true); // the socket's refusal of the revoked session, before the logout's answer
    clock.t = at(14, 3, 12);
    answer.ok();
    await done;
    ends.ended(true); // its own mark is in the storage now
    ends.ended(false, String(at(14, 3, 12)));
    expect(told).toEqual([]);
  });

  it("leaves no mark when it fails, and the session's end is told as any other", async () => {
    const { stored, ends, told, clock } = setup();
    ends.began(at(14, 0, 0));
    const refused = signingOut(ends);
    refused.answer.fail(new Error("sign-out could not be recorded"));
    await expect(refused.done).rejects.toThrow("sign-out could not be recorded");
    expect(stored.has(SIGN_OUT_MARK)).toBe(false);
    expect(told).toEqual([]);
    clock.t = at(14, 3, 10);
    ends.ended(true); // expired later
    expect(told).toEqual([sessionEndText(null)]);
  });

  it("tells an end that came while it failed: the session ended some other way", async () => {
    const { stored, ends, told, clock } = setup();
    ends.began(at(14, 0, 0));
    const { done, answer } = signingOut(ends);
    clock.t = at(14, 3, 12);
    stored.set(SIGN_OUT_MARK, String(at(14, 3, 12))); // another tab signed out first
    ends.ended(true, stored.get(SIGN_OUT_MARK));
    expect(told).toEqual([]);
    answer.fail(new Error("cannot reach the exchange"));
    await expect(done).rejects.toThrow();
    expect(told).toEqual([ELSEWHERE]);
  });

  it("goes through with the storage blocked or full, which only loses the mark", async () => {
    const told: string[] = [];
    const blocked = new SessionEnds(() => {
      throw new DOMException("denied", "SecurityError");
    }, (text) => told.push(text), () => at(14, 3, 12));
    blocked.began(at(14, 0, 0));
    await blocked.signOut(() => Promise.resolve());
    const full = new SessionEnds(() => ({ getItem: () => null, setItem: () => {
      throw new DOMException("full", "QuotaExceededError");
    } }), (text) => told.push(text), () => at(14, 3, 12));
    await full.signOut(() => Promise.resolve());
    blocked.began(at(14, 0, 0));
    blocked.ended(true); // no mark can be read: an end without its reason
    expect(told).toEqual([sessionEndText(null)]);
  });

  it("says it failed, and why, when the server kept the session", () => {
    expect(signOutFailure(new Error(
      "sign-out could not be recorded, so the session is still valid: try again"))).toBe(
      "Not signed out: sign-out could not be recorded, so the session is still valid: try again");
  });
});
