// The markets list: bid, ask and the change over 24 hours per asset, from the live quotes.
// A row is a button (click, Enter or Space) that puts its market on the chart and the ticket.

import { remember } from "./prefs";
import { change, market, price } from "./format";
import { emit, store } from "./store";

export function renderMarkets(): void {
  const body = (document.getElementById("markets") as HTMLTableElement).tBodies[0];
  for (const asset of store.assets) {
    let row = body.querySelector<HTMLTableRowElement>(`tr[data-asset="${asset}"]`);
    if (!row) {
      row = body.insertRow();
      row.dataset.asset = asset;
      const name = row.insertCell();
      const pick = document.createElement("button");
      pick.type = "button";
      pick.className = "link";
      pick.textContent = market(asset);
      pick.addEventListener("click", () => select(asset));
      name.append(pick);
      for (const cls of ["num bid", "num ask", "num chg"]) row.insertCell().className = cls;
    }
    row.classList.toggle("selected", asset === store.selected);
    row.querySelector("button")?.setAttribute("aria-pressed", String(asset === store.selected));
    const quote = store.quotes.get(asset);
    if (!quote) continue;
    setText(row.cells[1], price(quote.bid, quote.decimals));
    setText(row.cells[2], price(quote.ask, quote.decimals));
    const open = store.dayOpen.get(asset);
    const text = open === undefined ? "–" : change(open, quote.ask);
    setText(row.cells[3], text);
    row.cells[3].className = `num chg ${text.startsWith("+") ? "pos" : text.startsWith("-") ? "neg" : ""}`;
  }
}

function setText(cell: HTMLTableCellElement, text: string): void {
  if (cell.textContent !== text) cell.textContent = text;
}

export function select(asset: string): void {
  if (store.selected === asset) return;
  store.selected = asset;
  remember("asset", asset);
  renderMarkets();
  emit("selected");
}
