// Runs loly's example client code, unchanged, against a Go port of the
// example: node harness/run.mjs <app> <server URL> [bundle dir].
//
// The vendored files under ../vendor are loly's own (see ../README.md). They
// are bundled with esbuild, with their module names pointed at what a
// browser would have loaded: the vendored lolySocket helper for
// "@lolyjs/core/sockets", and plain stand-ins (ui.jsx) for the styling
// components, which hold no socket logic. The driver of the app (one file
// per app in this folder) then renders the pages with React, as a browser
// would, and acts as a user: it clicks their buttons and reads what they
// show. It prints one line per step and exits 0 when every check held.
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const vendor = path.join(here, "..", "vendor");
const framework = path.join(vendor, "loly-framework");
const examples = path.join(vendor, "loly-examples", "loly-tic-tac-toe");

const [app, url, outDir] = process.argv.slice(2);
const drivers = { counter: "counter.jsx", chat: "chat.jsx", tictactoe: "tictactoe.jsx" };
if (!drivers[app] || !url) {
  console.error("usage: node harness/run.mjs counter|chat|tictactoe <server URL> [bundle dir]");
  process.exit(2);
}

const ui = path.join(here, "ui.jsx");
const alias = {
  // loly's own modules, as loly's pages import them.
  "@lolyjs/core/sockets": path.join(framework, "packages/loly-core/modules/react/sockets/index.ts"),
  "@loly/counter-page": path.join(framework, "apps/space-explorer/app/realtime/counter/page.tsx"),
  "@loly/chat-page": path.join(framework, "apps/space-explorer/app/realtime/chat/page.tsx"),
  "@/lib/game-socket": path.join(examples, "lib/game-socket.ts"),
  "@loly/lobby-page": path.join(examples, "app/lobby/page.tsx"),
  "@loly/game-page": path.join(examples, "app/game/[roomId]/page.tsx"),
  // Styling and navigation: stand-ins, see ui.jsx.
  "@/components/ui/card": ui,
  "@/components/ui/button": ui,
  "@/lib/utils": ui,
  "lucide-react": ui,
  "@lolyjs/core/hooks": ui,
  "@/components/lobby/RoomList": ui,
  "@/components/game/GameBoard": ui,
  "@/components/game/PlayerInfo": ui,
  "@/components/game/WinnerAnimation": ui,
};

// loly's helper calls io() from socket.io-client; in a browser the page's
// cookies and origin go with it. browser.mjs gives the same to Node.
const browserIO = {
  name: "browser-io",
  setup(b) {
    b.onResolve({ filter: /^socket\.io-client$/ }, (args) =>
      args.importer.startsWith(vendor) ? { path: path.join(here, "browser.mjs") } : undefined);
  },
};

const dir = outDir || mkdtempSync(path.join(tmpdir(), "loly-clients-"));
const outfile = path.join(dir, `${app}.cjs`);
await build({
  entryPoints: [path.join(here, drivers[app])],
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  jsx: "automatic",
  outfile,
  alias,
  plugins: [browserIO],
  nodePaths: [path.join(here, "..", "node_modules")],
  external: ["bufferutil", "utf-8-validate"],
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "error",
});
// The pages log to the console; their lines go to stderr, so that stdout
// holds only the driver's steps.
console.log = console.info = console.warn = console.error;
const { main } = await import(pathToFileURL(outfile).href);
let code = 0;
try {
  await main(url);
  process.stdout.write(JSON.stringify({ step: "done" }) + "\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String((e && e.stack) || e) }) + "\n");
  code = 1;
}
if (!outDir) rmSync(dir, { recursive: true, force: true });
process.exit(code);
