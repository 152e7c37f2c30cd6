import { describe, expect, it } from "vitest";
import { signInRefusal } from "../src/signin-link";

describe("signInRefusal", () => {
  it("says why a link was refused, in the page's own words", () => {
    expect(signInRefusal("#signin-error=UNAUTHENTICATED")).toMatch(/invalid, expired or already used/);
    expect(signInRefusal("#signin-error=RATE_LIMITED")).toMatch(/try again later/);
    expect(signInRefusal("#signin-error=ENGINE_UNAVAILABLE")).toMatch(/did not work this time/);
  });

  it("shows nothing taken from the address, and nothing for other hashes", () => {
    expect(signInRefusal("#signin-error=<b>pay here</b>")).toBeNull();
    expect(signInRefusal("#signin-error=")).toBeNull();
    expect(signInRefusal("#history")).toBeNull();
    expect(signInRefusal("")).toBeNull();
  });
});
