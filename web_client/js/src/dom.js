// A tiny element builder: text goes in as text nodes, never as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function time(ts, lang) {
  const d = new Date(ts);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  const opts = sameDay ? { hour: "2-digit", minute: "2-digit" } : { day: "numeric", month: "short" };
  return d.toLocaleString(lang === "en" ? "en-GB" : "ru-RU", opts);
}

const drawnAs = new WeakMap();

/**
 * Put `nodes` in `parent` in that order, keeping each child already there whose markup, as it
 * was drawn, equals a new node's: a button pressed while the page redraws (a receipt, someone
 * typing) stays the button under the finger, and focus stays where it was. Only for nodes whose
 * markup names everything their handlers act on (a data-event-id, a data-room-id), so that a
 * kept node does what the new one would. A container with no handlers of its own and only
 * elements in it may carry `data-keep` (a name among its siblings): when it changed, the old
 * one takes the new one's attributes and the same treatment for its children.
 */
export function keepSame(parent, nodes) {
  const old = new Map();
  const named = new Map();
  for (const child of [...parent.children]) {
    const mark = drawnAs.get(child);
    if (mark === undefined) continue;
    if (!old.has(mark)) old.set(mark, []);
    old.get(mark).push(child);
    if (child.dataset.keep) named.set(`${child.tagName} ${child.dataset.keep}`, child);
  }
  const used = new Set();
  const wanted = nodes.map((node) => {
    const mark = node.outerHTML;  // before any image or count loaded later changes it
    const same = old.get(mark)?.find((child) => !used.has(child));
    if (same) {
      used.add(same);
      return same;
    }
    const shell = node.dataset.keep ? named.get(`${node.tagName} ${node.dataset.keep}`) : undefined;
    if (shell && !used.has(shell)) {
      used.add(shell);
      for (const name of shell.getAttributeNames()) if (!node.hasAttribute(name)) shell.removeAttribute(name);
      for (const name of node.getAttributeNames()) shell.setAttribute(name, node.getAttribute(name));
      keepSame(shell, [...node.children]);
      drawnAs.set(shell, mark);
      return shell;
    }
    drawnAs.set(node, mark);
    return node;
  });
  const keep = new Set(wanted);
  for (const child of [...parent.childNodes]) if (!keep.has(child)) parent.removeChild(child);
  wanted.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
  });
  return parent;
}
