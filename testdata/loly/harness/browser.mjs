// What a browser gives loly's lolySocket helper, for Node: the page's
// location (the helper connects to the page's own origin), and the page's
// cookies on the handshake (loly's apps authenticate with an HttpOnly
// cookie). A driver sets the origin with setPage and the cookie of the
// "browser" that mounts a page next with nextCookie.
import { io as connect } from "socket.io-client";

globalThis.window = globalThis;
let cookie = "";
const created = [];

export function setPage(url) {
  globalThis.location = new URL(url);
}

export function nextCookie(value) {
  cookie = value;
}

// sockets returns every socket the pages created, in order.
export function sockets() {
  return created;
}

export function io(uri, opts = {}) {
  const extraHeaders = { ...(opts.extraHeaders || {}) };
  if (cookie) extraHeaders.cookie = cookie;
  // Each page of these apps opens one namespace; in a browser that is one
  // connection per page (and one per browser), never shared between the
  // players a driver runs side by side.
  const s = connect(uri, { ...opts, extraHeaders, forceNew: true });
  created.push(s);
  return s;
}
