// Why the sign-in form is back when this page did not sign out. Tabs and windows of one browser
// share the session cookie: a sign-out in one ends the session in all. The tab that signs out
// leaves a mark in localStorage before it asks the server, so the others can say "Signed out in
// another tab or window" instead of silently showing the sign-in form. They learn of it from
// the mark's storage event or from the server's refusal of the session (a 401, the socket's
// UNAUTHENTICATED), whichever comes first; a refusal with no mark is a session that ended (it
// expired, or was revoked elsewhere).

import { timeOfDay } from "./format";

export const SIGN_OUT_MARK = "signedOutAt";

type MarkStorage = Pick<Storage, "getItem" | "setItem">;

export function sessionEndText(elsewhereAt: number | null): string {
  return elsewhereAt === null ? "Your session has ended: sign in again."
    : `Signed out in another tab or window at ${timeOfDay(elsewhereAt)}.`;
}

/** How long after an end told without its reason a sign-out mark can still be its reason (ms).
 * A mark explains a refusal that came after it was written, or a moment before: the tab
 * that signs out writes it once the server has answered its logout, and the revocation can
 * reach another tab (its socket, a 401) while that answer is on its way. A mark later than
 * this is another session's: signed in again and signed out since, in another tab. */
export const LATE_MARK_MS = 5_000;

export class SessionEnds {
  /** When this page's session began (ms); a mark from before it is an older session's. */
  private since = Number.POSITIVE_INFINITY;
  /** When an end was told without its reason (ms), which a mark arriving late can still
   * give; null when there is none to give. */
  private vagueAt: number | null = null;

  constructor(
    private readonly storage: () => MarkStorage,
    private readonly tell: (text: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  began(now: number): void {
    this.since = now;
    this.vagueAt = null;
  }

  /** This page signs out: the others are told by the mark. */
  markSignOut(now: number): void {
    this.storage().setItem(SIGN_OUT_MARK, String(now));
  }

  /** When another tab signed this page's session out, read from a mark's text; else null. */
  signedOutAt(mark: string | null): number | null {
    if (mark === null || !/^\d{1,16}$/.test(mark)) return null;
    const at = Number(mark); // a time in ms, not money
    return at >= this.since ? at : null;
  }

  /** The session ended without this page's sign-out; `wasSignedIn` says whether the page was
   * signed in until now, `mark` the sign-out mark's text if it came with the news. Says why
   * once, and gives the reason of an end told without one when its mark comes after it. */
  ended(wasSignedIn: boolean, mark: string | null = this.storage().getItem(SIGN_OUT_MARK)): void {
    const at = this.signedOutAt(mark);
    if (wasSignedIn) {
      this.vagueAt = at === null ? this.now() : null;
      this.tell(sessionEndText(at));
    } else if (this.vagueAt !== null && at !== null && at <= this.vagueAt + LATE_MARK_MS) {
      this.vagueAt = null;
      this.tell(sessionEndText(at));
    }
  }
}
