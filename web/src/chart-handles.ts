// Grips on the chart's movable price lines (stop loss, take profit, trailing stop, an order's
// price): real buttons laid over the canvas at each line's height. A pointer drags one up or
// down; from the keyboard, the arrows move it and Enter confirms (Escape puts it back). Where
// it is let go, `onMove` asks the server; the lines are then redrawn from the server's answer,
// so a rejected move springs back.

import type { IPriceLine, ISeriesApi } from "lightweight-charts";

export type LineKind = "entry" | "sl" | "tp" | "liq" | "order" | "trail";

export interface PriceLineSpec {
  price: bigint;
  title: string;
  kind: LineKind;
  /** The trade or order the line belongs to: set on the lines that can be moved. */
  tradeId?: string;
}

export const MOVABLE: ReadonlySet<LineKind> = new Set<LineKind>(["sl", "tp", "trail", "order"]);

/** A price picked by the pointer -> the grid a moved level snaps to (text, for toUnits). */
export type Snap = (value: number) => string;

interface Grip {
  spec: PriceLineSpec;
  line: IPriceLine;
  button: HTMLButtonElement;
  /** Where the line is drawn now (moves with a drag), as the chart's number. */
  at: number;
  from: number;
  /** The level as the server has it, exact. */
  fromText: string;
}

const KEY_STEP_PX = 4;
const MIN_DRAG_PX = 3;

export class LineHandles {
  private readonly layer: HTMLDivElement;
  private grips: Grip[] = [];
  private frame = 0;
  /** The grip being moved: the lines are not rebuilt under it until it is let go. */
  active: Grip | null = null;

  constructor(
    container: HTMLElement,
    private readonly series: ISeriesApi<"Candlestick">,
    private readonly snap: Snap,
    private readonly onMove: (spec: PriceLineSpec, price: string) => void,
    /** Called when no grip is held any more (lines that came meanwhile can be drawn). */
    private readonly onIdle: () => void,
  ) {
    this.layer = document.createElement("div");
    this.layer.className = "line-grips";
    container.append(this.layer);
  }

  set(
    specs: PriceLineSpec[], lines: IPriceLine[], toNumber: (units: bigint) => number,
    toText: (units: bigint) => string,
  ): void {
    this.layer.replaceChildren();
    this.grips = [];
    specs.forEach((spec, i) => {
      if (!spec.tradeId || !MOVABLE.has(spec.kind)) return;
      const at = toNumber(spec.price);
      const button = document.createElement("button");
      button.type = "button";
      button.className = `grip ${spec.kind}`;
      button.dataset.kind = spec.kind;
      button.dataset.trade = spec.tradeId;
      const grip: Grip = { spec, line: lines[i], button, at, from: at, fromText: toText(spec.price) };
      this.label(grip);
      this.wire(grip);
      this.layer.append(button);
      this.grips.push(grip);
    });
    this.place();
  }

  private label(grip: Grip): void {
    const level = grip.at === grip.from ? grip.fromText : this.snap(grip.at);
    const text = `${grip.spec.title} ${level}`;
    grip.button.textContent = `${text} \u21d5`;
    grip.button.setAttribute("aria-label",
      `${text}: drag, or use the arrow keys and Enter, to move it`);
  }

  private wire(grip: Grip): void {
    const { button } = grip;
    let startY = 0;
    button.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      button.setPointerCapture(e.pointerId);
      this.active = grip;
      startY = e.clientY;
      button.classList.add("dragging");
    });
    button.addEventListener("pointermove", (e) => {
      if (this.active !== grip || !button.hasPointerCapture(e.pointerId)) return;
      this.moveTo(grip, e.clientY - this.layer.getBoundingClientRect().top);
    });
    const release = (e: PointerEvent, commit: boolean): void => {
      if (this.active !== grip) return;
      button.classList.remove("dragging");
      if (button.hasPointerCapture(e.pointerId)) button.releasePointerCapture(e.pointerId);
      if (commit && Math.abs(e.clientY - startY) >= MIN_DRAG_PX) this.commit(grip);
      else this.revert(grip);
    };
    button.addEventListener("pointerup", (e) => release(e, true));
    button.addEventListener("pointercancel", (e) => release(e, false));
    button.addEventListener("keydown", (e) => {
      if (e.key === "ArrowUp" || e.key === "ArrowDown") {
        e.preventDefault();
        this.active = grip;
        const y = this.series.priceToCoordinate(grip.at);
        if (y !== null) this.moveTo(grip, y + (e.key === "ArrowUp" ? -KEY_STEP_PX : KEY_STEP_PX));
      } else if (e.key === "Enter" && this.active === grip) {
        e.preventDefault();
        this.commit(grip);
      } else if (e.key === "Escape" && this.active === grip) {
        this.revert(grip);
      }
    });
    button.addEventListener("blur", () => {
      if (this.active === grip) this.revert(grip);
    });
  }

  private moveTo(grip: Grip, y: number): void {
    const value = this.series.coordinateToPrice(y);
    if (value === null || value <= 0) return;
    grip.at = Number(this.snap(value));
    grip.line.applyOptions({ price: grip.at });
    this.label(grip);
    this.place();
  }

  private commit(grip: Grip): void {
    this.active = null;
    if (grip.at !== grip.from) this.onMove(grip.spec, this.snap(grip.at));
    this.onIdle();
  }

  private revert(grip: Grip): void {
    this.active = null;
    grip.at = grip.from;
    grip.line.applyOptions({ price: grip.at });
    this.label(grip);
    this.place();
    this.onIdle();
  }

  /** Each grip at its line's height, hidden when the line is off the visible scale; kept in
   * place every frame while there are grips, since zoom and autoscale move the lines. */
  private place(): void {
    const height = this.layer.clientHeight;
    for (const grip of this.grips) {
      const y = this.series.priceToCoordinate(grip.at);
      const visible = y !== null && y >= 0 && y <= height;
      grip.button.hidden = !visible && grip !== this.active;
      if (y !== null) grip.button.style.top = `${Math.round(y)}px`;
    }
    if (!this.frame && this.grips.length) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.place();
      });
    }
  }
}
