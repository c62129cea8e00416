// Scenarios for the Go tests of the Socket.IO transport, run with the real
// socket.io-client: node client.js <scenario> '<json options>'.
// Each scenario prints one JSON object per line for the Go test to check,
// and exits 0 when it finished, 1 on a timeout or an unexpected error.
"use strict";
const { io } = require("socket.io-client");

const [scenario, rawOpts] = process.argv.slice(2);
const opts = JSON.parse(rawOpts || "{}");
const out = (o) => console.log(JSON.stringify(o));
const fail = (msg) => { out({ error: String(msg) }); process.exit(1); };
setTimeout(() => fail("scenario timed out"), opts.timeoutMs || 40000).unref();

const connect = (ns, extra = {}) =>
  io(opts.url + ns, { path: opts.path || "/wss", reconnection: false, forceNew: true, ...opts.client, ...extra });
const connected = (s) => new Promise((resolve, reject) => {
  s.once("connect", () => resolve(s));
  s.once("connect_error", (e) => reject(e));
});
const next = (s, ev) => new Promise((resolve) => s.once(ev, (...args) => resolve(args)));
// Generous: the race detector and a busy machine slow the server down.
const ack = (s, ev, ...args) => s.timeout(15000).emitWithAck(ev, ...args);
const transportName = (s) => s.io.engine.transport.name;

const scenarios = {
  // Connect with an auth payload, ask who we are, join a room, get a room
  // broadcast, and report the transport in use.
  async basic() {
    const s = await connected(connect(opts.ns || "/chat", { auth: { token: opts.token } }));
    out({ step: "connected", id: s.id });
    out({ step: "whoami", value: await ack(s, "whoami", { userId: "spoofed" }) });
    out({ step: "join", value: await ack(s, "join", { room: "r1" }) });
    const said = next(s, "said");
    out({ step: "say", value: await ack(s, "say", { room: "r1", text: "hello" }) });
    out({ step: "said", value: (await said)[0] });
    await new Promise((r) => setTimeout(r, 300)); // leave time for an upgrade
    out({ step: "transport", value: transportName(s) });
    s.disconnect();
  },

  // Auth refused: connect_error carries the message and the error object.
  async refused() {
    const s = connect(opts.ns || "/chat", { auth: { token: "bad" } });
    try {
      await connected(s);
      out({ step: "connected" });
    } catch (e) {
      out({ step: "connect_error", message: e.message, data: e.data });
    }
    s.close();
  },

  // An invalid payload: __loly:error as an event, and the error in the ack.
  async invalid() {
    const s = await connected(connect("/chat", { auth: { token: opts.token } }));
    const err = next(s, "__loly:error");
    out({ step: "ack", value: await ack(s, "join", { room: "" }) });
    out({ step: "event", value: (await err)[0] });
    out({ step: "valid", value: await ack(s, "join", { room: "ok" }) });
    s.disconnect();
  },

  // A burst of events: how many pass and how many get RATE_LIMIT.
  async ratelimit() {
    const s = await connected(connect("/chat", { auth: { token: opts.token } }));
    const results = await Promise.all(Array.from({ length: opts.n || 100 }, () => ack(s, "ping")));
    const passed = results.filter((r) => !(r && r.error)).length;
    const limited = results.filter((r) => r && r.error && r.error.code === "RATE_LIMIT").length;
    out({ step: "burst", passed, limited, sample: results.find((r) => r && r.error) });
    s.disconnect();
  },

  // Two namespaces over one connection (the Manager multiplexes them).
  async namespaces() {
    const manager = new (require("socket.io-client").Manager)(opts.url, { path: opts.path || "/wss", reconnection: false, ...opts.client });
    const a = await connected(manager.socket("/chat", { auth: { token: opts.token } }));
    const b = await connected(manager.socket("/admin", { auth: { token: opts.token } }));
    out({ step: "same-engine", value: a.io.engine === b.io.engine, engineId: a.io.engine.id });
    out({ step: "chat", value: await ack(a, "whoami") });
    out({ step: "admin", value: await ack(b, "where") });
    const bad = manager.socket("/nope");
    try { await connected(bad); out({ step: "nope", value: "connected" }); }
    catch (e) { out({ step: "nope", value: e.message }); }
    a.disconnect(); b.disconnect(); bad.close();
  },

  // Binary round trip: a Buffer goes out, comes back as binary.
  async binary() {
    const s = await connected(connect("/chat", { auth: { token: opts.token } }));
    const payload = Buffer.from([0, 1, 2, 250, 255, 10, 13, 30]);
    const back = await ack(s, "echo-file", { name: "f.bin", file: payload });
    out({ step: "echo", name: back.name, isBinary: Buffer.isBuffer(back.file) || back.file instanceof ArrayBuffer,
          bytes: Array.from(Buffer.from(back.file)) });
    s.disconnect();
  },

  // Several arguments both ways: an emit with several and a callback, the
  // server's ack and emit of several, and the one value Ctx.Data makes of
  // several.
  async args() {
    const s = await connected(connect("/chat", { auth: { token: opts.token } }));
    const spread = next(s, "spread");
    const acked = await new Promise((resolve, reject) => s.timeout(15000).emit("args", 1, "two", { three: 3 }, [4],
      (err, ...args) => (err ? reject(err) : resolve(args))));
    out({ step: "ack", value: acked });
    out({ step: "spread", value: await spread });
    out({ step: "data", value: await ack(s, "data-of", 1, "two") });
    s.disconnect();
  },

  // Binary both ways, among several arguments: what the server echoes and
  // acks, and what it says it received.
  async binaryargs() {
    const s = await connected(connect("/chat", { auth: { token: opts.token } }));
    const bytes = Buffer.from([0, 1, 2, 250, 255, 10, 13, 30]);
    const echoed = new Promise((resolve) => s.once("bin-echo", (...args) => resolve(args)));
    const acked = await new Promise((resolve, reject) => s.timeout(15000).emit("bin", "label", bytes,
      { nested: Uint8Array.from([7, 8]).buffer, list: [bytes] }, (err, ...args) => (err ? reject(err) : resolve(args))));
    // Binary shown as {bin: [bytes]}, so the Go test tells it from text.
    const show = (v) => (Buffer.isBuffer(v) || v instanceof ArrayBuffer) ? { bin: Array.from(Buffer.from(v)) }
      : Array.isArray(v) ? v.map(show)
      : (v && typeof v === "object") ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, show(x)])) : v;
    out({ step: "ack", value: show(acked) });
    out({ step: "echo", value: show(await echoed) });
    s.disconnect();
  },

  // The server emits an event that waits for our ack, then tells us what
  // our ack said.
  async serverack() {
    const s = connect("/chat", { auth: { token: opts.token } });
    s.on("question", (q, cb) => cb({ answer: q.n * 2 }));
    await connected(s);
    const answered = next(s, "answered");
    await ack(s, "ask-me", { n: 21 });
    out({ step: "result", value: (await answered)[0] });
    s.disconnect();
  },

  // Reconnect after the server restarts: connect, wait for the drop, and
  // report the reconnection.
  async reconnect() {
    const s = io(opts.url + "/chat", { path: opts.path || "/wss", auth: { token: opts.token },
      reconnectionDelay: 100, reconnectionDelayMax: 300, ...opts.client });
    await connected(s);
    out({ step: "connected", id: s.id });
    const reason = await next(s, "disconnect");
    out({ step: "disconnected", reason: reason[0] });
    await next(s, "connect");
    out({ step: "reconnected", value: await ack(s, "whoami") });
    s.disconnect();
  },

  // Stay connected, in a room, and report the events of a name until told
  // how many to expect (used by the cluster acceptance tests).
  async listen() {
    const s = await connected(connect("/chat", { auth: { token: opts.token }, query: opts.query || {} }));
    if (opts.room) await ack(s, "join", { room: opts.room });
    out({ step: "ready", id: s.id });
    const got = [];
    await new Promise((resolve) => {
      s.on(opts.event, (data) => { got.push(data); if (opts.expect > 0 && got.length >= opts.expect) resolve(); });
      if (opts.expect === 0) setTimeout(resolve, opts.waitMs || 500);
    });
    out({ step: "got", value: got });
    s.disconnect();
  },

  // The loly counter across instances: opts.sockets sockets spread over
  // opts.urls each send opts.each increments; every socket reports how many
  // counter-update events it got and the highest count among them.
  async counter() {
    const socks = await Promise.all(Array.from({ length: opts.sockets }, (_, i) =>
      connected(io(opts.urls[i % opts.urls.length] + "/chat", { path: opts.path || "/wss", reconnection: false,
        forceNew: true, transports: ["websocket"], query: { user: "c" + i } }))));
    const seen = socks.map(() => ({ n: 0, max: 0 }));
    const total = opts.sockets * opts.each;
    const all = new Promise((resolve) => socks.forEach((s, i) => s.on("counter-update", (u) => {
      seen[i].n++; seen[i].max = Math.max(seen[i].max, u.count);
      if (seen.every((x) => x.n >= total)) resolve();
    })));
    await Promise.all(socks.map(async (s) => { for (let j = 0; j < opts.each; j++) await ack(s, "increment", { by: 1 }); }));
    await all;
    out({ step: "seen", value: seen });
    socks.forEach((s) => s.disconnect());
  },

  // Presence across instances: u1 on the first url, u2 on the second; both
  // ask who is online, then u2 leaves and u1 asks again.
  async presence() {
    const mk = (url, user) => connected(io(url + "/chat", { path: opts.path || "/wss", reconnection: false,
      forceNew: true, query: { user } }));
    const [u1, u2] = await Promise.all([mk(opts.urls[0], "u1"), mk(opts.urls[1], "u2")]);
    out({ step: "connected" });
    await ack(u1, "join", { room: "lobby" });
    await ack(u2, "join", { room: "lobby" });
    out({ step: "joined" });
    out({ step: "both", a: await ack(u1, "online", {}), b: await ack(u2, "online", {}),
          roomA: await ack(u1, "online", { room: "lobby" }), roomB: await ack(u2, "online", { room: "lobby" }) });
    u2.disconnect();
    await new Promise((r) => setTimeout(r, 200));
    out({ step: "after", a: await ack(u1, "online", {}) });
    u1.disconnect();
  },

  // Connection state recovery: join a room, report every "said" with the
  // offset socket.io-client tracks, and every (re)connection with
  // socket.recovered, until opts.expect messages came; the Go test cuts the
  // network meanwhile.
  async csr() {
    const s = io(opts.url + (opts.ns || "/chat"), { path: opts.path || "/wss", auth: { token: opts.token },
      reconnectionDelay: 100, reconnectionDelayMax: 200, ...opts.client });
    let connects = 0;
    s.on("connect", () => { connects++; out({ step: "connect", n: connects, recovered: s.recovered === true, id: s.id }); });
    s.on("disconnect", (reason) => out({ step: "disconnect", reason }));
    const got = [];
    const all = new Promise((resolve) => s.on("said", (m, offset) => {
      got.push(m.text);
      out({ step: "said", text: m.text, offset });
      if (got.length >= opts.expect) resolve();
    }));
    await connected(s);
    await ack(s, "join", { room: opts.room });
    out({ step: "joined" });
    await all;
    out({ step: "got", value: got, connects });
    s.disconnect();
  },

  // Stay connected until the server disconnects us: print the socket id
  // once connected, then, at the disconnect, its reason and everything seen
  // in order (connect, the events named in opts.events, disconnect).
  async kicked() {
    const s = connect(opts.ns || "/chat", { auth: { token: opts.token }, query: opts.query || {} });
    const seen = [];
    for (const ev of opts.events || []) s.on(ev, (data) => seen.push([ev, data]));
    s.on("connect", () => { seen.push(["connect"]); out({ step: "connected", id: s.id }); });
    s.on("connect_error", (e) => fail("connect_error: " + e.message));
    const [reason] = await next(s, "disconnect");
    seen.push(["disconnect", reason]);
    out({ step: "disconnected", reason, seen, active: s.active });
    s.close();
  },

  // Send a list of [event, data] with acks and print the answers.
  async send() {
    const s = await connected(connect("/chat", { auth: { token: opts.token }, query: opts.query || {} }));
    const answers = [];
    for (const [ev, data] of opts.events) answers.push(await ack(s, ev, data));
    out({ step: "answers", value: answers });
    if (opts.stayMs) await new Promise((r) => setTimeout(r, opts.stayMs));
    s.disconnect();
  },
};

(scenarios[scenario] || (() => fail("unknown scenario " + scenario)))()
  .then(() => { out({ done: true }); setTimeout(() => process.exit(0), 50); })
  .catch((e) => fail(e && e.stack || e));
