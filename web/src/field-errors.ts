// A form's errors beside the inputs they name: the ticket's, the modify dialog's and the
// partial close's. The error line under input `x` is the element `x-error`; what names no
// input of the form goes to its `.form-error` line.

import { ApiError, fieldOf, UNREACHABLE } from "./api";

/** Messages under their inputs (marked aria-invalid and described by the message); `inputs`
 * maps the field names (the server's and the form's own) to input ids. */
export function showFieldErrors(
  form: HTMLElement, inputs: Record<string, string>, errors: Record<string, string>,
): void {
  for (const el of form.querySelectorAll<HTMLElement>(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll<HTMLElement>("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  }
  for (const [field, message] of Object.entries(errors)) {
    const input = inputs[field] ? document.getElementById(inputs[field]) : null;
    const slot = input ? document.getElementById(`${input.id}-error`) : null;
    if (input && slot && !input.closest("[hidden]")) {
      slot.textContent = message;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", slot.id);
    } else {
      const general = form.querySelector<HTMLElement>(".form-error");
      if (general) general.textContent = message;
    }
  }
}

/** The rejection of a command as field errors: beside the field it names, else the form's. */
export function rejectionErrors(err: unknown): Record<string, string> {
  if (err instanceof ApiError) return { [fieldOf(err) || "form"]: err.message };
  return { form: err instanceof Error ? err.message : String(err) };
}

/** An input being edited no longer shows the error the last submit gave it. */
export function clearFieldError(target: EventTarget | null): void {
  if (!(target instanceof HTMLElement) || !target.hasAttribute("aria-invalid")) return;
  const slot = document.getElementById(`${target.id}-error`);
  if (slot) slot.textContent = "";
  target.removeAttribute("aria-invalid");
  target.removeAttribute("aria-describedby");
}

/** The exchange is reachable again (it answered a request, or the socket is live): a form's
 * "cannot reach the exchange" is no longer true, so it goes. */
export function clearUnreachable(): void {
  for (const slot of document.querySelectorAll<HTMLElement>(".field-error")) {
    if (slot.textContent !== UNREACHABLE) continue;
    slot.textContent = "";
    const input = document.querySelector(`[aria-describedby="${CSS.escape(slot.id)}"]`);
    input?.removeAttribute("aria-invalid");
    input?.removeAttribute("aria-describedby");
  }
}
