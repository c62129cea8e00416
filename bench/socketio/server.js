// The Socket.IO 4 peer of the realtime load tool. It serves the same
// workloads as the Go servers: "echo" answers its ack with its data, "join"
// puts the socket in a room, "bcast" emits the payload to its room. The user
// is the handshake's auth token. With --redis URL, instances are joined by
// @socket.io/redis-adapter. GET /debug/gc runs a full collection (start node
// with --expose-gc), so that idle memory is measured the same way as in Go.
//
//   node --expose-gc server.js --addr 127.0.0.1:8080 [--redis redis://127.0.0.1:6379/0]
"use strict";

const http = require("http");
const { Server } = require("socket.io");

function arg(name) {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main() {
  const [host, port] = (arg("addr") || "127.0.0.1:8080").split(":");
  const redisURL = arg("redis");

  const httpServer = http.createServer((req, res) => {
    if (req.url === "/debug/gc") {
      if (global.gc) global.gc();
      res.end("ok\n");
      return;
    }
    res.writeHead(404);
    res.end();
  });
  const io = new Server(httpServer, {
    transports: ["websocket"],
    serveClient: false,
    perMessageDeflate: false,
    cors: { origin: "*" },
  });

  let closeRedis = async () => {};
  if (redisURL) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: redisURL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub, { key: (arg("prefix") || "") + "sio" }));
    closeRedis = async () => {
      await Promise.allSettled([pub.quit(), sub.quit()]);
    };
  }

  io.use((socket, next) => {
    const token = socket.handshake.auth && socket.handshake.auth.token;
    if (!token) {
      next(new Error("unauthorized"));
      return;
    }
    socket.data.user = token;
    next();
  });

  io.on("connection", (socket) => {
    socket.on("echo", (data, ack) => {
      if (typeof ack === "function") ack(data);
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(true);
    });
    socket.on("bcast", (msg) => {
      if (msg && typeof msg.room === "string") io.to(msg.room).emit("msg", msg);
    });
  });

  httpServer.listen(Number(port), host, () => {
    process.stdout.write("ready\n");
  });

  const stop = async () => {
    io.close();
    await closeRedis();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
