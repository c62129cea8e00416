// Drives loly's tic-tac-toe pages (loly-examples loly-tic-tac-toe: the
// lobby, the game page and their useGameSocket hook), unchanged, against
// the Go port of the game. Each player is a browser with the "user" cookie
// the app's setup endpoint sets ("name-id").
import LobbyPage from "@loly/lobby-page";
import GamePage from "@loly/game-page";
import { setPage } from "./browser.mjs";
import { Browser, assert, log, waitFor } from "./dom.jsx";

const uuid = () => crypto.randomUUID();

class Player extends Browser {
  constructor(name) {
    const id = uuid();
    super(name, `user=${name}-${id}`);
    this.user = { id, name };
  }

  // lobby opens the lobby and waits for it to connect.
  async lobby() {
    await this.open(<LobbyPage />);
    await this.waitShows("Connected");
  }

  // follow opens the page the last router.push went to, as loly's client
  // router would.
  async follow(before) {
    const to = await waitFor(`${this.name} to navigate`, () => this.history.length > before && this.history.at(-1));
    const m = /^\/game\/(.+)$/.exec(to);
    if (!m) {
      await this.lobby();
      return null;
    }
    await this.open(<GamePage params={{ roomId: m[1] }} user={this.user} />);
    await waitFor(`${this.name}'s game page`, () => this.board());
    return m[1];
  }

  board() {
    const cells = this.all((n) => n.props["data-cell"] !== undefined);
    return cells.length === 9 ? cells.map((c) => c.children.join("")).join("") : null;
  }

  info() {
    return this.all((n) => n.props["data-ui"] === "PlayerInfo")[0]?.props;
  }

  cell(i) {
    this.click(this.all((n) => n.props["data-cell"] === i)[0]);
  }
}

export async function main(url) {
  setPage(url + "/lobby");
  const alice = new Player("Alice");
  const bob = new Player("Bob");
  await alice.lobby();
  await bob.lobby();
  await alice.waitShows("No rooms available");
  log({ step: "lobby" });

  // Alice creates a room and is taken to it; Bob sees it in his list.
  let h = alice.history.length;
  alice.click("Create Room");
  const roomId = await alice.follow(h);
  await waitFor("Bob's list to show Alice's room", () => bob.all((n) => n.props["data-room"] === roomId).length === 1);
  await waitFor("Alice's room to wait", () => alice.info()?.["data-status"] === "waiting");
  log({ step: "created", room: roomId.slice(0, 8) });

  // Bob joins and is taken to the game.
  h = bob.history.length;
  bob.click(bob.all((n) => n.props["data-room"] === roomId)[0]);
  assert((await bob.follow(h)) === roomId, "Bob went to another room");
  await waitFor("both to play", () => alice.info()?.["data-status"] === "playing" && bob.info()?.["data-status"] === "playing");
  log({ step: "joined", players: alice.info().children });

  // X (Alice) wins on the top row; each move reaches both boards.
  const moves = [[alice, 0], [bob, 3], [alice, 1], [bob, 4], [alice, 2]];
  let want = ".........".split("");
  for (const [p, i] of moves) {
    await waitFor(`${p.name}'s turn`, () => !p.all((n) => n.props["data-cell"] === i)[0].props.disabled);
    p.cell(i);
    want[i] = p === alice ? "X" : "O";
    const w = want.join("");
    await waitFor(`both boards to show ${w}`, () => alice.board() === w && bob.board() === w);
  }
  await waitFor("the win", () => alice.info()["data-winner"] === "X" && bob.info()["data-winner"] === "X");
  await alice.waitShows("Alice (X) wins");
  log({ step: "won", board: alice.board() });

  // New game: both boards clear.
  alice.click("New Game");
  await waitFor("a new game", () => alice.board() === "........." && bob.board() === "........." && bob.info()["data-status"] === "playing");
  log({ step: "reset" });

  // Errors as the pages show them: a stranger's game page, a room that
  // does not exist (the page goes back to the lobby), no cookie at all.
  const carol = new Player("Carol");
  await carol.open(<GamePage params={{ roomId }} user={carol.user} />);
  await carol.waitShows("You are not in this room");
  h = carol.history.length;
  await carol.open(<GamePage params={{ roomId: uuid() }} user={carol.user} />);
  await carol.waitShows("Room not found");
  await waitFor("Carol back to the lobby", () => carol.history.length > h && carol.history.at(-1) === "/lobby", 10000);
  const anon = new Browser("anonymous");
  await anon.open(<LobbyPage />);
  await anon.waitShows("Access denied");
  anon.close();
  log({ step: "errors", shown: ["You are not in this room", "Room not found", "Access denied"] });

  // Bob leaves: Alice's room is down to her.
  h = bob.history.length;
  bob.click("Back to Lobby");
  await bob.follow(h);
  await waitFor("Alice alone", () => alice.info().children === "Alice:X");
  log({ step: "left" });

  // A game against the bot: it answers each move.
  h = carol.history.length;
  await carol.lobby();
  h = carol.history.length;
  carol.click("Play vs Bot");
  await carol.follow(h);
  carol.cell(0);
  await waitFor("the bot to answer", () => (carol.board().match(/O/g) || []).length === 1);
  log({ step: "bot", board: carol.board() });

  for (const p of [alice, bob, carol]) p.close();
}
