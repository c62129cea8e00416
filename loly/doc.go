// Package loly helps applications move from the realtime layer of loly
// (@lolyjs/core, defineWssRoute on Socket.IO) to this module without
// changing their clients.
//
// The mux already serves loly's socket.io-client pages unchanged and keeps
// loly's names, defaults and error codes. Where loly behaved differently in
// a way that clients or data depend on, this package offers loly's
// behaviour, each piece on its own:
//
//   - Configure fills a Config with loly's origin rule (LocalOrigins), its
//     unenforced per-address limit and its error payloads (ErrorHandler).
//   - Stages is the standard middleware chain in loly's order, with loly's
//     bursts (RateLimitOpts).
//   - KeepSocket keeps a socket whose connect handler failed, as loly did.
//   - State is loly's ctx.state over a store.Store, with loly's encoding in
//     Redis: JSON values and newest-first lists, so a Go server and a
//     TypeScript one can read each other's state during a migration.
//
// MIGRATION.md at the root of the module maps every loly concept to its Go
// form and lists what behaves differently, with or without this package.
package loly
