// Splits an internal command line into words: white space separates words, and a word in double quotes
// (Go/JSON escapes) may contain spaces, so `download "/srv/a b.txt"` names one path. Never evaluates anything.

export function splitInternalLine(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    if (line[i] === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === "\\" ? 2 : 1;
      const quoted = line.slice(i, j + 1);
      try {
        const value = JSON.parse(quoted);
        if (typeof value === "string" && j < line.length) {
          words.push(value);
          i = j + 1;
          continue;
        }
      } catch {
        // not a valid quoted string: fall through and take it as a plain word
      }
    }
    let j = i;
    while (j < line.length && !/\s/.test(line[j]!)) j++;
    words.push(line.slice(i, j));
    i = j;
  }
  return words;
}
