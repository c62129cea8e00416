// Drives loly's counter page (space-explorer app/realtime/counter/page.tsx),
// unchanged, in two browsers against the Go port of the counter.
import CounterPage from "@loly/counter-page";
import { setPage } from "./browser.mjs";
import { Browser, assert, log, text, waitFor } from "./dom.jsx";

// count is the number the page shows in its big display.
const count = (b) => text(b.all((n) => n.type === "div" && n.props.className === "text-6xl font-bold mb-4")[0]);

export async function main(url) {
  setPage(url + "/realtime/counter");
  const a = new Browser("A");
  const b = new Browser("B");
  await a.open(<CounterPage />);
  await b.open(<CounterPage />);
  await a.waitShows("🟢 Conectado");
  await b.waitShows("🟢 Conectado");
  assert(count(a) === "0" && count(b) === "0", `fresh counter shows ${count(a)} and ${count(b)}`);
  log({ step: "connected", a: count(a), b: count(b) });

  // +5 in A: B sees 5. loly's broadcast leaves the sender out, so A keeps
  // showing 0 until it hears of a change made elsewhere.
  a.click("+5");
  await waitFor("B to show 5", () => count(b) === "5");
  // get-users is answered after everything A's +5 sent to A itself.
  a.click("Actualizar usuarios");
  await a.waitShows("2 usuarios conectados");
  assert(count(a) === "0", `A shows ${count(a)} after its own +5; loly's broadcast excludes the sender`);
  log({ step: "increment", a: count(a), b: count(b) });

  b.click("-1");
  await waitFor("A to show 4", () => count(a) === "4");
  a.click("Reset");
  await waitFor("B to show 0", () => count(b) === "0");
  log({ step: "decrement and reset", a: count(a), b: count(b) });

  // Faster than 5 a second with bursts of 10: the rest are refused, and the
  // page shows the error as loly sent it.
  for (let i = 0; i < 30; i++) b.click("+1");
  b.click("Reset");
  await b.waitShows("RATE_LIMIT: Event rate limit exceeded");
  // B's reset comes after all its increments: A ends on 0.
  await waitFor("A to show B's reset", () => count(a) === "0" && a.shows("RATE_LIMIT") === false);
  log({ step: "rate limit", shown: "RATE_LIMIT: Event rate limit exceeded" });

  // Once B has left, get-users counts one socket. B's disconnect and A's
  // question travel on different sockets: ask until the answer comes.
  b.close();
  let asked = 0;
  await waitFor("A to show 1 user", () => {
    if (a.shows("1 usuario conectado")) return true;
    if (Date.now() - asked > 200) {
      asked = Date.now();
      a.click("Actualizar usuarios");
    }
    return false;
  });
  log({ step: "users", a: "1 usuario conectado" });
  a.close();
}
