// Outbox priorities, lower goes first: the one source for every sender. Kept below console/ so that log/ can
// tag its records without importing the transport.

export const PRIORITY_COMMANDS = 10;
/**
 * A command's fin: one step behind acks, events (and streamed chunks) at 10, as upstream does (upstream-2026.md
 * §2.2), on top of the outbox's rule that a fin waits for its own ack. Protected like them: never dropped.
 */
export const PRIORITY_FINS = 11;
export const PRIORITY_INVENTORY = 80;
export const PRIORITY_LOGS = 90;
