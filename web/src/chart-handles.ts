// Grips on the chart's movable price lines (stop loss, take profit, trailing stop, an order's
// price): vertical sliders laid over the canvas at each line's height. A pointer drags one up
// or down; from the keyboard, the arrows move it and Enter confirms (Escape puts it back).
// Where it is let go, `onMove` asks the server; until that settles the line stays where it was
// put, and the lines are then redrawn from the server's state, so a refused move springs back.

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

/** Where a level moved by hand may land: `snap` rounds a pointer's price to the grid (as
 * decimal text, for toUnits), `unit` is one step of that grid; `show` writes such a level as
 * the page writes prices. */
export interface Grid {
  snap: (value: number) => string;
  unit: () => number;
  show: (level: string) => string;
}

interface Grip {
  key: string;
  spec: PriceLineSpec;
  line: IPriceLine;
  button: HTMLButtonElement;
  /** Where the line is drawn now (moves with a drag), as the chart's number. */
  at: number;
  from: number;
  /** The level as the server has it, exact. */
  fromText: string;
  /** What `place` last wrote, so an unchanged frame writes nothing. */
  drawn: string;
}

const KEY_STEP_PX = 4;
const MIN_DRAG_PX = 3;
/** Grips closer than this (px) are set side by side, so each can be grabbed. */
const CROWDED_PX = 18;

export class LineHandles {
  private readonly layer: HTMLDivElement;
  private grips: Grip[] = [];
  private frame = 0;
  /** The grip being moved: the lines are not rebuilt under it until it is let go. */
  private active: Grip | null = null;
  /** A move the server has not answered yet. */
  private asking = false;

  constructor(
    container: HTMLElement,
    private readonly series: ISeriesApi<"Candlestick">,
    private readonly grid: Grid,
    private readonly onMove: (spec: PriceLineSpec, price: string) => Promise<void>,
    /** Called when no grip is held or waiting any more (lines that came meanwhile can be drawn). */
    private readonly onIdle: () => void,
  ) {
    this.layer = document.createElement("div");
    this.layer.className = "line-grips";
    container.append(this.layer);
  }

  /** True while a grip is held or its move is being decided. */
  get busy(): boolean {
    return this.active !== null || this.asking;
  }

  set(
    specs: PriceLineSpec[], lines: IPriceLine[], toNumber: (units: bigint) => number,
    toText: (units: bigint) => string,
  ): void {
    const focused = this.grips.find((g) => g.button === document.activeElement)?.key;
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
      button.setAttribute("role", "slider");
      button.setAttribute("aria-orientation", "vertical");
      const grip: Grip = { key: `${spec.tradeId}:${spec.kind}:${spec.title}`, spec,
        line: lines[i], button, at, from: at, fromText: toText(spec.price), drawn: "" };
      this.label(grip);
      this.wire(grip);
      this.layer.append(button);
      this.grips.push(grip);
    });
    this.place();
    // The lines are redrawn after every change: keyboard focus stays on the same grip.
    this.grips.find((g) => g.key === focused)?.button.focus();
  }

  private label(grip: Grip): void {
    const level = this.grid.show(grip.at === grip.from ? grip.fromText : this.grid.snap(grip.at));
    grip.button.textContent = `${grip.spec.title} ${level} \u21d5`;
    grip.button.setAttribute("aria-label", `${grip.spec.title}: arrow keys move it, Enter confirms`);
    grip.button.setAttribute("aria-valuenow", String(grip.at));
    grip.button.setAttribute("aria-valuetext", `${grip.spec.title} ${level}`);
  }

  private wire(grip: Grip): void {
    const { button } = grip;
    let startY = 0;
    button.addEventListener("pointerdown", (e) => {
      if (this.asking) return;
      e.preventDefault();
      button.setPointerCapture(e.pointerId);
      this.active = grip;
      startY = e.clientY;
      button.classList.add("dragging");
    });
    button.addEventListener("pointermove", (e) => {
      if (this.active !== grip || !button.hasPointerCapture(e.pointerId)) return;
      this.moveTo(grip, this.priceAt(e.clientY - this.layer.getBoundingClientRect().top));
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
      if ((e.key === "ArrowUp" || e.key === "ArrowDown") && !this.asking) {
        e.preventDefault();
        this.active = grip;
        this.step(grip, e.key === "ArrowUp" ? 1 : -1);
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

  private priceAt(y: number): number | null {
    const value = this.series.coordinateToPrice(y);
    return value === null || value <= 0 ? null : Number(this.grid.snap(value));
  }

  /** One key press: a few pixels, and at least one step of the grid (on a tight scale a few
   * pixels round back to the same price). */
  private step(grip: Grip, direction: 1 | -1): void {
    const y = this.series.priceToCoordinate(grip.at);
    let next = y === null ? null : this.priceAt(y - direction * KEY_STEP_PX);
    if (next === null || next === grip.at) {
      next = Number(this.grid.snap(grip.at + direction * this.grid.unit()));
    }
    this.moveTo(grip, next);
  }

  private moveTo(grip: Grip, value: number | null): void {
    if (value === null || value <= 0) return;
    grip.at = value;
    grip.line.applyOptions({ price: grip.at });
    this.label(grip);
    this.place();
  }

  private commit(grip: Grip): void {
    this.active = null;
    if (grip.at === grip.from) {
      this.onIdle();
      return;
    }
    this.asking = true;
    void this.onMove(grip.spec, this.grid.snap(grip.at)).finally(() => {
      this.asking = false;
      this.onIdle();
    });
  }

  private revert(grip: Grip): void {
    this.active = null;
    grip.at = grip.from;
    grip.line.applyOptions({ price: grip.at });
    this.label(grip);
    this.place();
    this.onIdle();
  }

  /** Each grip at its line's height (crowded ones side by side), hidden when the line is off
   * the visible scale; kept in place every frame while there are grips, since zoom, scroll and
   * autoscale move the lines. */
  private place(): void {
    const height = this.layer.clientHeight;
    const placed = this.grips
      .map((grip) => ({ grip, y: this.series.priceToCoordinate(grip.at) }))
      .sort((a, b) => (a.y ?? -1) - (b.y ?? -1));
    let previous: { y: number; right: number } | null = null;
    for (const { grip, y } of placed) {
      const visible = y !== null && y >= 0 && y <= height;
      const left: number = previous && y !== null && y - previous.y < CROWDED_PX ? previous.right + 4 : 6;
      if (visible && y !== null) previous = { y, right: left + grip.button.offsetWidth };
      const drawn = `${visible || grip === this.active}|${Math.round(y ?? 0)}|${left}`;
      if (drawn === grip.drawn) continue;
      grip.drawn = drawn;
      grip.button.hidden = !visible && grip !== this.active;
      if (y !== null) grip.button.style.top = `${Math.round(y)}px`;
      grip.button.style.left = `${left}px`;
    }
    if (!this.frame && this.grips.length) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.place();
      });
    }
  }
}
