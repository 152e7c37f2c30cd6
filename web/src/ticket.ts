// The order ticket: market orders today (LONG/SHORT, margin, leverage, optional SL/TP), with
// the preview from money.ts before confirming and the server's rejection beside its field.
// The type selector is where LIMIT/STOP slot in once PLACE_ORDER is served.

import { ApiError, engine, Raw } from "./api";
import { apiPrice, groupThousands, leverage, price, signedUsd, usd } from "./format";
import { fromUnits, USD_SCALE } from "./money";
import { notify } from "./notices";
import { previewMarketOrder } from "./preview";
import { readTicket, type TicketText } from "./ticket-input";
import { decimalsOf, store } from "./store";
import type { Direction } from "./types";

/** ENGINE_MAINTENANCE_MARGIN_RATE's default (SPEC section 4). The API does not publish the
 * rate in force; where an operator sets another, the liquidation price in the answer to the
 * order (and on the position) is the server's and the one that counts. */
const MAINTENANCE_PPM = 0;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** The server's field names (and the ticket's own) -> the error line under that input. */
const ERROR_SLOTS: Record<string, string> = {
  margin: "t-margin-error",
  leverage: "t-leverage-error",
  l10: "t-leverage-error",
  stopLossPrice: "t-sl-error",
  takeProfitPrice: "t-tp-error",
};
/** Business rejections come from the engine with a stable code but no field: the code names
 * the field it is about. */
const CODE_FIELDS: Record<string, string> = {
  INVALID_STOP_LOSS: "stopLossPrice",
  INVALID_TAKE_PROFIT: "takeProfitPrice",
  INVALID_MARGIN: "margin",
  INSUFFICIENT_BALANCE: "margin",
  INVALID_LEVERAGE: "leverage",
};
const INPUTS: Record<string, string> = {
  "t-margin-error": "t-margin", "t-leverage-error": "t-leverage",
  "t-sl-error": "t-sl", "t-tp-error": "t-tp",
};

function text(): TicketText {
  return {
    asset: $<HTMLSelectElement>("t-asset").value,
    direction: (document.querySelector<HTMLInputElement>('input[name="direction"]:checked')
      ?.value ?? "LONG") as Direction,
    margin: $<HTMLInputElement>("t-margin").value,
    l10: $<HTMLInputElement>("t-leverage").value,
    stopLossPrice: $<HTMLInputElement>("t-sl").value,
    takeProfitPrice: $<HTMLInputElement>("t-tp").value,
  };
}

function showErrors(errors: Record<string, string>): void {
  for (const el of document.querySelectorAll<HTMLElement>("#ticket .field-error")) {
    el.textContent = "";
    const input = INPUTS[el.id];
    if (input) {
      $(input).removeAttribute("aria-invalid");
      $(input).removeAttribute("aria-describedby");
    }
  }
  for (const [field, message] of Object.entries(errors)) {
    const slot = ERROR_SLOTS[field] ?? "t-form-error";
    $(slot).textContent = message;
    const input = INPUTS[slot];
    if (input) {
      $(input).setAttribute("aria-invalid", "true");
      $(input).setAttribute("aria-describedby", slot);
    }
  }
}

export function renderTicket(): void {
  const t = text();
  const long = t.direction === "LONG";
  const submit = $<HTMLButtonElement>("t-submit");
  submit.textContent = `${long ? "Buy / Long" : "Sell / Short"} ${t.asset.replace("_", "/")}`;
  submit.className = long ? "long" : "short";
  submit.disabled = store.session !== "signed-in";
  const l10 = Number.parseInt(t.l10, 10);
  $("t-leverage-out").textContent = leverage(l10);
  const decimals = decimalsOf(t.asset);
  const { values, errors } = readTicket(t, decimals);
  const quote = store.quotes.get(t.asset);
  const out = (k: string, v: string): void => {
    const dd = document.querySelector(`#preview dd[data-k="${k}"]`);
    if (dd && dd.textContent !== v) dd.textContent = v;
  };
  if (!quote || errors.margin || errors.l10) {
    for (const k of ["entry", "notional", "required", "liquidation", "pnlSl", "pnlTp"]) out(k, "–");
    return;
  }
  const p = previewMarketOrder({ ...values, bid: quote.bid, ask: quote.ask,
    maintenancePpm: MAINTENANCE_PPM });
  out("entry", price(p.entry, decimals));
  out("notional", `${groupThousands(fromUnits(p.notional.units, p.notional.scale, 2))} USD`);
  out("required", `${usd(p.requiredMargin)} USD`);
  out("liquidation", p.liquidation === null ? "none" : price(p.liquidation, decimals));
  out("pnlSl", p.pnlAtStopLoss === null ? "–" : `${signedUsd(p.pnlAtStopLoss)} USD`);
  out("pnlTp", p.pnlAtTakeProfit === null ? "–" : `${signedUsd(p.pnlAtTakeProfit)} USD`);
}

interface Opened {
  tradeId: string;
  entryPrice: number;
  liquidationPrice?: number;
  leverage: number;
}

export async function submitTicket(afterTrade: () => void): Promise<void> {
  const t = text();
  const decimals = decimalsOf(t.asset);
  const { values, errors } = readTicket(t, decimals);
  showErrors(errors as Record<string, string>);
  if (Object.keys(errors).length) return;
  const submit = $<HTMLButtonElement>("t-submit");
  submit.disabled = true;
  try {
    const opened = await engine<Opened>({
      command: "CREATE_TRADE",
      asset: values.asset,
      direction: values.direction,
      margin: new Raw(fromUnits(values.margin, USD_SCALE)),
      leverage: new Raw(String(values.l10)),
      stopLossPrice: values.stopLoss === null ? undefined : new Raw(fromUnits(values.stopLoss, decimals)),
      takeProfitPrice: values.takeProfit === null ? undefined
        : new Raw(fromUnits(values.takeProfit, decimals)),
    });
    notify(`Opened ${values.direction} ${values.asset} at ${apiPrice(opened.entryPrice, decimals)}, ` +
      `${leverage(values.l10)}` + (opened.liquidationPrice !== undefined
      ? `, liquidation ${apiPrice(opened.liquidationPrice, decimals)}` : ""), "good");
    $<HTMLInputElement>("t-sl").value = "";
    $<HTMLInputElement>("t-tp").value = "";
    renderTicket();
  } catch (err) {
    if (err instanceof ApiError) {
      const field = err.field ?? CODE_FIELDS[err.code ?? ""];
      showErrors({ [field && ERROR_SLOTS[field] ? field : "form"]: err.message });
    } else {
      showErrors({ form: String(err) });
    }
  } finally {
    submit.disabled = store.session !== "signed-in";
    afterTrade();
  }
}
