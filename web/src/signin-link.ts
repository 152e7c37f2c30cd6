// A sign-in link the gateway refused sends the browser back here as #signin-error=<CODE>
// (gateway_svc/rest/routes_user.py). The page says why in its own words, never in words taken
// from the address, which anyone could write into a link.

const MESSAGES: Record<string, string> = {
  UNAUTHENTICATED:
    "That sign-in link is invalid, expired or already used: ask for a new one with your e-mail above.",
  RATE_LIMITED: "Too many sign-ins from your address or mailbox: try again later.",
};
const OTHERWISE = "Signing in did not work this time: ask for a new link with your e-mail above.";

/** What to tell the trader for this location hash; null when it reports no refused link. */
export function signInRefusal(hash: string): string | null {
  const found = /^#signin-error=([A-Z_]{1,40})$/.exec(hash);
  if (found === null) return null;
  return MESSAGES[found[1]] ?? OTHERWISE;
}
