// A panel's figures: the <dd data-k="..."> of a <dl>, written only when the text changes (a
// tick that changes nothing touches no node, and a screen reader hears nothing).

export function showFigure(list: string, key: string, text: string): void {
  const dd = document.querySelector(`${list} dd[data-k="${key}"]`);
  if (dd && dd.textContent !== text) dd.textContent = text;
}
