// Why the sign-in form is back when this page did not sign out. Tabs and windows of one browser
// share the session cookie: a sign-out in one ends the session in all. The tab that signs out
// leaves a mark in localStorage once the server has signed the session out (not before: the
// logout fails closed, and a failed one leaves the session valid everywhere), so the others can
// say "Signed out in another tab or window" instead of silently showing the sign-in form. They
// learn of it from the mark's storage event or from the server's refusal of the session (a
// 401, the socket's UNAUTHENTICATED), whichever comes first; a refusal with no mark is a
// session that ended (it expired, or was revoked elsewhere), told more precisely if the mark
// follows. The tab that signs out tells itself nothing: its own end needs no reason.

import { timeOfDay } from "./format";

export const SIGN_OUT_MARK = "signedOutAt";
/** Left by a page whose session begins (a sign-in, or a load signed in): a tab showing the
 * sign-in form shares the new cookie, and joins the session without a reload. */
export const SIGN_IN_MARK = "signedInAt";

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
  /** This page is signing out, or has (until a session begins again): an end of its session
   * is its own, and is not told. */
  private own = false;
  /** The session ended some other way while this page was signing out (told if that fails). */
  private endedMeanwhile = false;

  constructor(
    private readonly storage: () => MarkStorage,
    private readonly tell: (text: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  began(now: number): void {
    this.since = now;
    this.vagueAt = null;
    this.own = false;
    try {
      this.storage().setItem(SIGN_IN_MARK, String(now));
    } catch {
      /* no mark: the other tabs sign in on their next load */
    }
  }

  /** This page signs out through `logout` (the server's revocation), then leaves the mark
   * that tells the others. A failed logout leaves no mark and is thrown: the session is still
   * valid, in this tab and the others, and an end that came meanwhile (it expired) is told
   * after all. Storage blocked or full stops nothing: the others then learn of the end from
   * the server's refusal. */
  async signOut(logout: () => Promise<unknown>): Promise<void> {
    this.own = true;
    this.endedMeanwhile = false;
    try {
      await logout();
    } catch (err) {
      this.own = false;
      if (this.endedMeanwhile) this.ended(true);
      throw err;
    }
    try {
      this.storage().setItem(SIGN_OUT_MARK, String(this.now()));
    } catch {
      /* no mark: the other tabs say "Your session has ended" when the server refuses it */
    }
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
  ended(wasSignedIn: boolean, mark: string | null = this.storedMark()): void {
    if (this.own) {
      this.endedMeanwhile ||= wasSignedIn;
      return;
    }
    const at = this.signedOutAt(mark);
    if (wasSignedIn) {
      this.vagueAt = at === null ? this.now() : null;
      this.tell(sessionEndText(at));
    } else if (this.vagueAt !== null && at !== null && at <= this.vagueAt + LATE_MARK_MS) {
      this.vagueAt = null;
      this.tell(sessionEndText(at));
    }
  }

  private storedMark(): string | null {
    try {
      return this.storage().getItem(SIGN_OUT_MARK);
    } catch {
      return null; // storage blocked: no mark to read
    }
  }
}

/** What the page says when its sign-out failed: it is still signed in. */
export function signOutFailure(err: unknown): string {
  return `Not signed out: ${err instanceof Error ? err.message : String(err)}`;
}
