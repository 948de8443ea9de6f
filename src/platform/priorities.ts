// Outbox priorities, lower goes first: the one source for every sender. Kept below console/ so that log/ can
// tag its records without importing the transport.

export const PRIORITY_COMMANDS = 10;
export const PRIORITY_INVENTORY = 80;
export const PRIORITY_LOGS = 90;
