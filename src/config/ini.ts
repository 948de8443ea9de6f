// INI text -> sections of string values, with the go-ini conventions existing alpamon.conf files rely on.
// Never interprets values: typing and validation live in schema.ts.
import { parse } from "ini";

export type IniSections = Record<string, Record<string, string>>;

/**
 * go-ini accepts `key: value` as well as `key = value`; the ini package only knows `=`.
 * Rewrites the first delimiter of a key line to `=` when it is a colon.
 */
function normaliseDelimiters(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => {
      const trimmed = line.trimStart();
      if (trimmed === "" || trimmed.startsWith("[") || trimmed.startsWith("#") || trimmed.startsWith(";")) {
        return line;
      }
      const match = /[=:]/.exec(line);
      if (match && match[0] === ":") return `${line.slice(0, match.index)}=${line.slice(match.index + 1)}`;
      return line;
    })
    .join("\n");
}

/**
 * Parses INI text. Unquoted values lose everything from the first `;` or `#` (an inline comment), as with
 * go-ini; a value in double quotes is taken literally (JSON string rules), so `alpamon setup` quotes what it writes.
 * Keys outside any section are ignored; a key given twice keeps its last value.
 */
export function parseIni(text: string): IniSections {
  const parsed = parse(normaliseDelimiters(text)) as Record<string, unknown>;
  const sections: IniSections = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (value === null || typeof value !== "object") continue;
    const entries: Record<string, string> = {};
    for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
      // The ini package turns the words true/false/null into values; give them back as text.
      if (typeof raw === "string") entries[key] = raw;
      else if (typeof raw === "boolean") entries[key] = String(raw);
      else if (raw === null) entries[key] = "";
      else if (Array.isArray(raw)) entries[key] = String(raw[raw.length - 1] ?? "");
    }
    sections[name] = entries;
  }
  return sections;
}

/** Quotes a value for writing so that `#`, `;` and surrounding spaces survive a round trip. */
export function quoteIniValue(value: string): string {
  return JSON.stringify(value);
}
