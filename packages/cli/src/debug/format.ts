// Small formatting helpers for the debugger: hex and decimal numbers, ANSI colour (only when the
// session allows it), column layout for an 80-column terminal.

/** Width the debugger lays its output out for. */
export const WIDTH = 80;

export const hex8 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
export const hex4 = (n: number): string => `0x${(n & 0xffff).toString(16).padStart(4, "0")}`;
export const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** A 64-bit value from its halves: 0x0000000000123000. */
export function hex16(low: number, high: number): string {
  return `0x${(high >>> 0).toString(16).padStart(8, "0")}${(low >>> 0).toString(16).padStart(8, "0")}`;
}

/** A 32-bit value in the session's radix (hex with leading zeros, or unsigned decimal). */
export function value32(n: number, radix: number): string {
  return radix === 10 ? String(n >>> 0) : hex8(n);
}

export type Style = "bold" | "dim" | "red" | "green" | "yellow" | "cyan" | "inverse";

const CODES: Record<Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  inverse: [7, 27],
};

/** Wraps text in an ANSI style when colour is on; the text unchanged otherwise. */
export type Paint = (style: Style, text: string) => string;

export function painter(color: boolean): Paint {
  if (!color) return (_style, text) => text;
  return (style, text) => {
    const [on, off] = CODES[style];
    return `\u001b[${on}m${text}\u001b[${off}m`;
  };
}

/** Truncates to `width` characters, marking the cut with "...". */
export function clip(text: string, width: number): string {
  if (text.length <= width) return text;
  return width <= 3 ? text.slice(0, width) : `${text.slice(0, width - 3)}...`;
}

/** Joins words into lines of at most `width` characters, each starting with `indent`. */
export function wrap(words: readonly string[], indent: string, width = WIDTH - 1): string[] {
  const lines: string[] = [];
  let line = indent;
  for (const w of words) {
    if (line.length > indent.length && line.length + 1 + w.length > width) {
      lines.push(line);
      line = indent;
    }
    line += line.length > indent.length ? ` ${w}` : w;
  }
  if (line.length > indent.length) lines.push(line);
  return lines;
}

/** "1 exit" / "3 exits". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** Visible length (without ANSI colour codes). */
export function visibleLength(text: string): number {
  return text.replace(/\u001b\[[0-9;]*m/g, "").length;
}

/**
 * Keeps a line within `width` columns: a longer one is broken at spaces, the continuation
 * indented two more than the line. (Views lay out their lines to fit; this is the safety net.)
 */
export function softWrap(line: string, width = WIDTH - 1): string[] {
  if (visibleLength(line) <= width) return [line];
  const indent = `${/^ */.exec(line)![0]}  `;
  const out: string[] = [];
  let rest = line;
  while (visibleLength(rest) > width) {
    let cut = rest.lastIndexOf(" ", width);
    if (cut <= indent.length) cut = width;
    out.push(rest.slice(0, cut).trimEnd());
    rest = indent + rest.slice(cut).trimStart();
  }
  out.push(rest);
  return out;
}
