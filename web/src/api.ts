// Talking to the documented HTTP API on the page's own origin. Engine commands are written as
// JSON text with the decimals exactly as typed (canonical), never through a float.

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The request field an error is about, or "": the server names it (`field`) for validation
 * errors and for the engine's rejections that are about one field (gateway_svc/errors.py). */
export function fieldOf(err: ApiError): string {
  return err.field ?? "";
}

interface ErrorEnvelope {
  error?: string;
  code?: string;
  field?: string;
}

/** What a request that never reached the exchange says (status 0). */
export const UNREACHABLE = "cannot reach the exchange: check your connection";

const reachable = new Set<() => void>();

/** `listener` runs whenever the exchange answers a request (any status below 500; a proxy's
 * 502 or 504 says the exchange behind it is not): it is reachable. */
export function whenReachable(listener: () => void): void {
  reachable.add(listener);
}

let inFlight = 0;
let holding = false;
let settled: Array<() => void> = [];

/** Signing out: requests made from now on are refused here (status 0, which the page keeps
 * quiet), and the promise resolves once the requests already in flight have settled. So none
 * of them reaches the server after the session is revoked and comes back 401, which the
 * browser would log as a console error. */
export function holdRequests(): Promise<void> {
  holding = true;
  return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => settled.push(resolve));
}

export function releaseRequests(): void {
  holding = false;
}

function settle(): void {
  inFlight -= 1;
  if (inFlight === 0) {
    const waiting = settled;
    settled = [];
    waiting.forEach((resolve) => resolve());
  }
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: string; whileHeld?: boolean } = {},
): Promise<T> {
  if (holding && !init.whileHeld) throw new ApiError("signing out", 0);
  inFlight += 1;
  try {
    return await send<T>(path, init);
  } finally {
    settle();
  }
}

async function send<T>(path: string, init: { method?: string; body?: string }): Promise<T> {
  const request: RequestInit = { method: init.method ?? "GET", credentials: "same-origin" };
  if (init.body !== undefined) {
    request.body = init.body;
    request.headers = { "Content-Type": "application/json" };
  }
  let response: Response;
  try {
    response = await fetch(path, request);
  } catch {
    throw new ApiError(UNREACHABLE, 0);
  }
  if (response.status < 500) for (const listener of reachable) listener();
  let data: unknown = null;
  try {
    data = await response.json();
  } catch {
    /* not JSON (a proxy's error page) */
  }
  if (!response.ok) {
    const envelope = (data ?? {}) as ErrorEnvelope;
    throw new ApiError(
      envelope.error ?? `request failed (HTTP ${response.status})`,
      response.status,
      envelope.code,
      envelope.field,
    );
  }
  return data as T;
}

/** A decimal that goes into the JSON body as a number literal, exactly as given. */
export class Raw {
  constructor(readonly text: string) {}
}

export type CommandField = string | number | Raw | null | undefined;

/** `{"command":...,"orderId":...,...}` with Raw values written as JSON numbers. Absent fields
 * (undefined) are left out; null is kept (MODIFY_TRADE removes a level with it). */
export function commandBody(fields: Record<string, CommandField>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const json = value instanceof Raw ? value.text : JSON.stringify(value);
    parts.push(`${JSON.stringify(key)}:${json}`);
  }
  return `{${parts.join(",")}}`;
}

interface EngineReply<T> {
  success: boolean;
  orderId: string;
  engineResponse: { status: string; data: T; message?: string };
}

/** The orderIds of this page's commands, sent or answered (the newest OWN_ORDERS_KEPT). Every
 * caller of `engine` reloads the page's lists after the answer, whatever it is, so a trade
 * event one of them caused needs no reload of its own (ownOrder). A command that failed
 * leaves the set: if it was applied after all (an answer lost on the way), its event
 * reloads. */
const ownOrders = new Set<string>();
const OWN_ORDERS_KEPT = 100;

/** Whether a trade event's orderId names one of this page's own commands. */
export function ownOrder(orderId: string | null): boolean {
  return orderId !== null && ownOrders.has(orderId);
}

/** The waits between asks about a command whose outcome is not known (ENGINE_TIMEOUT: it may
 * still run, later), about 45 s in all. */
export const OUTCOME_RETRY_MS = [1000, 2000, 4000, 8000, 10000, 10000, 10000];
export const OUTCOME_UNKNOWN =
  "the exchange has not confirmed this order: check your positions before you send it again";

/** POST /api/v1/engine with a fresh orderId, which every retry reuses: the engine answers the
 * first result again instead of trading twice. A lost connection is retried once at once. An
 * answer that leaves the outcome unknown (ENGINE_TIMEOUT: the command may run when the engine
 * catches up) is asked again, with `onUnknown` told once, until the answer is known, either
 * way: a page that took a timeout for a refusal showed an error for an order that opened. */
export async function engine<T>(
  fields: Record<string, CommandField>,
  onUnknown: () => void = () => {},
  wait: (ms: number) => Promise<void> = (ms) => new Promise((r) => window.setTimeout(r, ms)),
): Promise<T> {
  const orderId = uuid4();
  const body = commandBody({ ...fields, orderId });
  ownOrders.add(orderId);
  for (const old of ownOrders) {
    if (ownOrders.size <= OWN_ORDERS_KEPT) break;
    ownOrders.delete(old);
  }
  const send = async (): Promise<T> =>
    (await api<EngineReply<T>>("/api/v1/engine", { method: "POST", body })).engineResponse.data;
  let unknown = false; // an earlier ask may have reached the engine
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const timedOut = err.code === "ENGINE_TIMEOUT";
      // Once unknown, a failure of the ask (the gateway restarting, the engine still away)
      // says nothing of the command: ask again.
      const askAgain = timedOut || (unknown && (err.status === 0 || err.status >= 500));
      if (!unknown && err.status === 0 && attempt === 0) continue;
      if (!askAgain) {
        if (!unknown) ownOrders.delete(orderId); // applied after all, its event refreshes
        throw err;
      }
      if (!unknown) onUnknown();
      unknown = true;
      if (attempt >= OUTCOME_RETRY_MS.length) {
        ownOrders.delete(orderId); // if it runs after all, its event refreshes the page
        throw new ApiError(OUTCOME_UNKNOWN, err.status, "OUTCOME_UNKNOWN");
      }
      await wait(OUTCOME_RETRY_MS[attempt]);
    }
  }
}

/** A random UUID; crypto.randomUUID exists only in secure contexts (https, localhost). */
export function uuid4(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
