// Drives loly's chat page (space-explorer app/realtime/chat/page.tsx),
// unchanged, in two browsers against the Go port of the chat.
import ChatPage from "@loly/chat-page";
import { io } from "socket.io-client";
import { setPage } from "./browser.mjs";
import { Browser, assert, log, text, waitFor } from "./dom.jsx";

// messages returns the texts of the messages the page lists.
const messages = (b) => b.all((n) => n.type === "div" && /^p-2 rounded/.test(n.props.className || "")).map(text);

// say types into the page's input and presses Enviar.
async function say(b, words) {
  const input = b.all((n) => n.type === "input")[0];
  input.props.onChange({ target: { value: words } });
  await waitFor(`${b.name}'s input to hold the text`, () => b.all((n) => n.type === "input")[0].props.value === words);
  b.click("Enviar");
  await waitFor(`${b.name}'s input to clear`, () => b.all((n) => n.type === "input")[0].props.value === "");
}

export async function main(url) {
  setPage(url + "/realtime/chat");
  // A listener of the harness's own (not loly's code) learns the guest ids
  // the server gives, to send the private message the page has no form for.
  const spy = io(url + "/chat", { path: "/wss", transports: ["websocket"], forceNew: true, reconnection: false });
  const joined = [];
  spy.on("user-joined", (d) => joined.push(d));
  await new Promise((resolve, reject) => { spy.on("connect", resolve); spy.on("connect_error", reject); });

  const a = new Browser("A");
  const b = new Browser("B");
  await a.open(<ChatPage />);
  await a.waitShows("🟢 Conectado");
  // The history is loly's list, newest first: A's own arrival heads it.
  // loly stored system entries with a "message" field, which the page
  // does not show, so they list empty.
  await waitFor("A's history", () => messages(a).length === 2);
  await b.open(<ChatPage />);
  await b.waitShows("🟢 Conectado");
  await waitFor("B's history of three arrivals", () => messages(b).length === 3);
  await waitFor("the harness to hear of A and B", () => joined.length === 2);
  const [aUser, bUser] = joined;
  assert(/^guest-[0-9a-f]{8}$/.test(aUser.userId), `guest id ${aUser.userId}`);
  await a.waitShows(`${bUser.userName} se unió al chat`);
  log({ step: "history", a: messages(a).length, b: messages(b).length, users: [aUser.userName, bUser.userName] });

  // A message to everyone: loly's broadcast leaves the sender out. (The
  // server's messages carry no type, so the page shows their text alone.)
  const listed = (br, words) => messages(br).some((m) => m.startsWith(words));
  await say(a, "hola a todos");
  await waitFor("B to list A's message", () => listed(b, "hola a todos"));
  await say(b, "hola A");
  await waitFor("A to list B's message", () => listed(a, "hola A"));
  assert(!listed(a, "hola a todos"), "A lists its own message; loly's broadcast excludes the sender");
  log({ step: "broadcast" });

  // Rooms: a message to the room reaches every member, the sender too.
  a.click('Unirse a "general"');
  await a.waitShows(`${aUser.userName} se unió a la sala general`);
  b.click('Unirse a "general"');
  await a.waitShows(`${bUser.userName} se unió a la sala general`);
  await b.waitShows(`${bUser.userName} se unió a la sala general`);
  await say(a, "en la sala");
  await waitFor("B to list the room message", () => listed(b, "en la sala"));
  await waitFor("A to list its own room message", () => listed(a, "en la sala"));
  a.click("Salir de sala");
  await waitFor("A's leave button to go", () => !a.shows("Salir de sala"));
  log({ step: "rooms" });

  // A private message reaches the user's page through toUser.
  spy.emit("private-message", { toUserId: aUser.userId, text: "psst" });
  await waitFor("A to list the private message", () => messages(a).some((m) => /\[PRIVADO de Guest [0-9a-f]{8}\]: psst/.test(m)));
  log({ step: "private message" });

  // An invalid message: the page shows the error as loly sent it.
  await say(b, "x".repeat(501));
  await b.waitShows("BAD_PAYLOAD: Invalid payload");
  log({ step: "invalid payload", shown: "BAD_PAYLOAD: Invalid payload" });

  // B leaves; A is told.
  b.close();
  await a.waitShows(`${bUser.userName} dejó el chat`);
  log({ step: "left" });
  a.close();
  spy.close();
}
