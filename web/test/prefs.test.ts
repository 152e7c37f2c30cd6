import { describe, expect, it } from "vitest";
import { remember, remembered } from "../src/prefs";

/** Storage as a browser's privacy settings leave it: any use throws. */
const blocked = (): Storage => {
  throw new DOMException("The operation is insecure.", "SecurityError");
};

function memory(): Storage {
  const items = new Map<string, string>();
  return {
    get length() { return items.size; },
    clear: () => items.clear(),
    getItem: (key) => items.get(key) ?? null,
    key: (index) => [...items.keys()][index] ?? null,
    removeItem: (key) => void items.delete(key),
    setItem: (key, value) => void items.set(key, value),
  };
}

describe("remembered choices", () => {
  it("come back from storage", () => {
    const storage = memory();
    remember("interval", "5m", () => storage);
    expect(remembered("interval", () => storage)).toBe("5m");
    expect(remembered("asset", () => storage)).toBeNull();
  });

  it("are simply not remembered when storage is blocked, and nothing throws", () => {
    expect(() => remember("interval", "5m", blocked)).not.toThrow();
    expect(remembered("interval", blocked)).toBeNull();
  });

  it("are not remembered when storage is full", () => {
    const full = memory();
    full.setItem = () => { throw new DOMException("full", "QuotaExceededError"); };
    expect(() => remember("asset", "BTC_USDC", () => full)).not.toThrow();
    expect(remembered("asset", () => full)).toBeNull();
  });
});
