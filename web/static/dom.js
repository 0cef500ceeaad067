// Building the page's elements. Server strings (filenames, messages, notes) reach the page only
// through textContent and setAttribute, never innerHTML: a filename is whatever the user's disk
// allowed, `<script>` included.

export const $ = (id) => document.getElementById(id);

/** An element with attributes and children; strings become text nodes, never parsed as HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function svg(tag, attrs, text = null) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** The status line, read out by screen readers (role="status"). */
export const announce = (message) => { $("status").textContent = message; };
