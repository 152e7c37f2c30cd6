import { describe, expect, it } from "vitest";
import { SessionEnds, SIGN_OUT_MARK, sessionEndText } from "../src/session-end";

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

  it("marks this page's own sign-out for the others", () => {
    const { stored, ends } = setup();
    ends.markSignOut(at(14, 3, 12));
    expect(stored.get(SIGN_OUT_MARK)).toBe(String(at(14, 3, 12)));
  });
});
