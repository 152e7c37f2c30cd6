// The page's remembered choices (the chart's interval, the market) in localStorage. Storage
// may be blocked (a browser's privacy settings throw on any use of it) or full: the page then
// works on without remembering, rather than failing to start.

/** The value remembered under `key`, or null (none, or storage unusable). */
export function remembered(key: string, storage: () => Storage = () => localStorage): string | null {
  try {
    return storage().getItem(key);
  } catch {
    return null;
  }
}

/** Remembers `value` under `key` if storage can be used; else forgets nothing it had. */
export function remember(key: string, value: string, storage: () => Storage = () => localStorage): void {
  try {
    storage().setItem(key, value);
  } catch {
    /* not remembered: the choice holds until the page is left */
  }
}
