// Building DOM nodes without HTML strings.
//
// Every text that comes from the relay, the program or the participant is set with
// textContent, never parsed as HTML, so nothing received can become markup or code.
// No inline event handlers and no style attributes: the page's CSP allows neither.

/**
 * Create an element.
 * @param {string} tag
 * @param {Record<string, string | boolean | number | null | undefined>} [attrs]
 *   attributes; `text` sets textContent, `class` the class list; false/null skip.
 * @param {Array<Node | string | null | undefined | false>} [children]
 * @returns {HTMLElement}
 */
// Blocks of text take their direction from their own first strong character, so an
// English sentence on a right-to-left page keeps its full stop at the end, and an
// Arabic one on a left-to-right page reads from the right.
const TEXT_BLOCKS = new Set(["p", "h2", "h3", "li", "label"]);

export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  if (TEXT_BLOCKS.has(tag) && !("dir" in attrs)) node.setAttribute("dir", "auto");
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = String(value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** Remove every child of `node`. */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

let counter = 0;

/** A fresh id for label/description links inside the widget. */
export function uid(prefix) {
  counter += 1;
  return `quietline-${prefix}-${counter}`;
}
