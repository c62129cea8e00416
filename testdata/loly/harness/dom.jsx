// Helpers for drivers: mount a page in its own "browser", read what it
// shows, act on it, wait for it.
import { create } from "react-test-renderer";
import { RouterContext } from "./ui.jsx";
import { nextCookie, sockets } from "./browser.mjs";

// log prints a step for the Go test, on stdout; the pages' own console
// output goes to stderr (see run.mjs).
export const log = (o) => process.stdout.write(JSON.stringify(o) + "\n");

// text returns the text a node shows.
export function text(node) {
  if (node == null) return "";
  if (typeof node === "string" || typeof node === "number") return String(node);
  return (node.children || []).map(text).join("");
}

// waitFor polls until fn returns a truthy value and returns it.
export async function waitFor(what, fn, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let v, err;
    try {
      v = fn();
    } catch (e) {
      err = e;
    }
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${err ? ": " + err.message : ""}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// A Browser is one user's tab: its cookie, its router history, the page
// it shows.
export class Browser {
  constructor(name, cookie = "") {
    this.name = name;
    this.cookie = cookie;
    this.history = [];
    this.router = { push: (p) => this.history.push(p), replace: (p) => this.history.push(p) };
    this.page = null;
  }

  // open mounts a page and waits until it has opened its socket.
  async open(element) {
    this.close();
    const before = sockets().length;
    nextCookie(this.cookie);
    this.page = create(<RouterContext.Provider value={this.router}>{element}</RouterContext.Provider>);
    await waitFor(`${this.name}: the page to open its socket`, () => sockets().length > before);
    nextCookie("");
  }

  // close unmounts the page, as navigating away does; its effects close
  // its socket.
  close() {
    if (this.page) {
      this.page.unmount();
      this.page = null;
    }
  }

  get root() {
    return this.page.root;
  }

  shows(s) {
    return text(this.page.toJSON && { children: [].concat(this.page.toJSON() || []) }).includes(s);
  }

  text() {
    return text({ children: [].concat(this.page.toJSON() || []) });
  }

  all(pred) {
    return this.root.findAll((n) => typeof n.type === "string" && pred(n));
  }

  button(label) {
    const found = this.all((n) => n.type === "button" && text(n).includes(label));
    if (found.length === 0) throw new Error(`${this.name}: no button "${label}" in: ${this.text()}`);
    return found[0];
  }

  click(label) {
    const b = typeof label === "string" ? this.button(label) : label;
    if (b.props.disabled) throw new Error(`${this.name}: button "${text(b)}" is disabled`);
    b.props.onClick({ preventDefault() {} });
  }

  async waitShows(s, timeoutMs) {
    return waitFor(`${this.name} to show ${JSON.stringify(s)} (shows ${JSON.stringify(this.page && this.text())})`,
      () => this.shows(s), timeoutMs);
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
