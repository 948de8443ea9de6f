// Typing into a test terminal and reading back one command's output between markers. The markers are built
// by printf from octal escapes, so the echoed command line never contains them.
import type { FakePtyConsole, PtyChannel } from "../../console/fake-pty.ts";

/** Types a line into the terminal: a binary frame (the 2025 console) or a text frame (2024). */
export function type(ch: PtyChannel, line: string, binary = true): void {
  if (binary) ch.ws.sendBinary(new TextEncoder().encode(`${line}\n`));
  else ch.ws.sendText(`${line}\n`);
}

export function marked(tag: string, command: string): { line: string; begin: string; end: string } {
  const oct = (s: string) => [...s].map((c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`).join("");
  return { line: `printf '${oct(`<${tag}>`)}'; ${command}; printf '${oct(`</${tag}>`)}\\n'`, begin: `<${tag}>`, end: `</${tag}>` };
}

/** Runs `command` in the terminal and returns what it printed between the markers. */
export async function captureOn(
  pty: FakePtyConsole,
  ch: PtyChannel,
  tag: string,
  command: string,
  binary = true,
  timeoutMs?: number,
): Promise<string> {
  const m = marked(tag, command);
  type(ch, m.line, binary);
  const text = await pty.waitForText(ch, m.end, timeoutMs);
  return text.slice(text.lastIndexOf(m.begin) + m.begin.length, text.lastIndexOf(m.end));
}
