/**
 * The limits that are not settings: each is a rule of the protocol or the design, with the
 * measurement or reason behind its value. The limits an operator may tune are variables
 * (variables.ts); docs/architecture.md lists these for operators.
 */

/**
 * A peer that has taken none of our writes for this long, with more than its byte limit
 * waiting, has stopped reading (a stopped process, a stalled host). One that reads slowly
 * takes some of every burst well within it: a write is at most a batch.
 */
export const STALL_MS = 2000;

/** Distinct sync requests (SYNC, and SYNC_GROUP per group) one connection may have waiting. */
export const MAX_WAITING_SYNCS = 256;

/**
 * Messages (and their bytes) one client may have waiting for the store before its reads
 * pause: far above what a client waiting for its ACKs has (bench:store's senders keep 16),
 * far below what one sending flat out would pile up (a 5 s flood of 32 KB IMs: 2.2 GB).
 */
export const SAVING_MAX = 1024;
export const SAVING_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Bytes a shard may have handed to another shard that it has not yet handled. A client whose
 * frame goes over it waits (its reads paused) until every peer is at most half of it behind:
 * a flood read on one shard for a receiver on another is slowed to the pace the receiving
 * shard keeps, instead of piling up in the port between them (bench:flood: +1 GB a round, and
 * seconds of delay for every other message between the two). A mebibyte is about a thousand
 * 1 KiB frames: a few milliseconds of a shard's work, so the wait it adds stays short.
 */
export const HANDOFF_BACKLOG_MAX = 1024 * 1024;

/** A quiet router link asks its router a PING this often... */
export const ROUTER_PING_EVERY_MS = 2000;
/**
 * ...and a router that answers PINGs (this project's) but has sent nothing for this long is
 * taken for down: a hung process (SIGSTOP, a stalled host) whose kernel still takes what is
 * written is otherwise never noticed while traffic is light. One that never answered the
 * first PING (GoBelieve's router) gets no such check.
 */
export const ROUTER_SILENT_MS = 8000;
