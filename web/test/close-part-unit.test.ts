// The part close names the smallest part that closes as the page writes USD (format.usd), not
// in a text of its own: with another USD scale, its refusal and hint follow.

import { describe, expect, it, vi } from "vitest";

vi.mock("../src/money", async (original) => ({
  ...(await original<typeof import("../src/money")>()),
  USD_SCALE: 6,
}));

const { CHIPS_HINT, chipRefusal } = await import("../src/close-part");

describe("the part close's smallest part", () => {
  it("is one USD unit as format.usd writes it", () => {
    expect(chipRefusal(3n, 25)).toBe(
      "25% of 0.000003 USD is less than 0.000001 USD, the smallest part that closes");
    expect(CHIPS_HINT).toBe(
      "A share smaller than 0.000001 USD cannot be closed: close it all, or type the part.");
  });
});
