// Stand-ins for the styling components and the router of loly's example
// apps. They hold no socket logic: they render their children and pass
// clicks on, so that a driver can read a page and act on it. Names and
// props are those the pages use.
import { createContext, useContext } from "react";

const box = (name) => {
  const C = ({ className, children, ...props }) => <div data-ui={name} {...props}>{children}</div>;
  C.displayName = name;
  return C;
};
export const Card = box("Card");
export const CardHeader = box("CardHeader");
export const CardTitle = box("CardTitle");
export const CardDescription = box("CardDescription");
export const CardContent = box("CardContent");

export function Button({ className, variant, size, asChild, ...props }) {
  return <button {...props} />;
}
export const buttonVariants = () => "";
export const cn = (...classes) => classes.filter(Boolean).join(" ");

const Icon = () => null;
export const Gamepad2 = Icon, Users = Icon, Bot = Icon, RefreshCw = Icon, LogOut = Icon,
  RotateCcw = Icon, Home = Icon, MessageSquare = Icon, TrendingUp = Icon, Zap = Icon;

// The router of @lolyjs/core/hooks: a driver gives each "browser" its own
// through RouterContext and reads where the page navigated.
export const RouterContext = createContext(null);
export const useRouter = () => useContext(RouterContext);

// RoomList: one button per room, as the real list has.
export function RoomList({ rooms, onJoinRoom, loading }) {
  if (loading) return <p>Loading rooms...</p>;
  if (rooms.length === 0) return <p>No rooms available</p>;
  return (
    <div data-ui="RoomList">
      {rooms.map((room) => (
        <button key={room.roomId} data-room={room.roomId} onClick={() => onJoinRoom(room.roomId)}>
          Join {room.playerName}
        </button>
      ))}
    </div>
  );
}

// GameBoard: nine cells that call onCellClick as the real board does: only
// when the board is enabled, the cell empty and the game not won.
export function GameBoard({ board, onCellClick, disabled = false, winner }) {
  return (
    <div data-ui="GameBoard">
      {board.map((value, position) => (
        <button
          key={position}
          data-cell={position}
          disabled={disabled || value !== null || winner !== null}
          onClick={() => {
            if (disabled || board[position] !== null || winner !== null) return;
            onCellClick(position);
          }}
        >
          {value || "."}
        </button>
      ))}
    </div>
  );
}

export function PlayerInfo({ players, currentPlayer, winner, status }) {
  return (
    <div data-ui="PlayerInfo" data-status={status} data-winner={winner || ""} data-turn={currentPlayer}>
      {players.map((p) => `${p.name}:${p.symbol}`).join(" ")}
    </div>
  );
}

export function WinnerAnimation({ winner, winnerName }) {
  return <div data-ui="WinnerAnimation">{`${winnerName} (${winner}) wins`}</div>;
}
