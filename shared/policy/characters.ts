/**
 * Names the characters that make a target or an argument look right and be wrong: zero-width and invisible
 * characters, non-ASCII letters that look like ASCII ones (homoglyphs), fancy dashes and quotes pasted from
 * documents. Used only for messages; the rules themselves accept printable ASCII and nothing else.
 */

export interface OddCharacter {
  /** Code point. */
  code: number;
  /** The character itself. */
  char: string;
  /** Unicode-style name, when we know it. */
  name?: string;
  /** The ASCII character it stands for, if it is a look-alike; empty for an invisible one (remove it). */
  ascii?: string;
}

const INVISIBLE: Record<number, string> = {
  0x00a0: 'NO-BREAK SPACE',
  0x00ad: 'SOFT HYPHEN',
  0x200b: 'ZERO WIDTH SPACE',
  0x200c: 'ZERO WIDTH NON-JOINER',
  0x200d: 'ZERO WIDTH JOINER',
  0x200e: 'LEFT-TO-RIGHT MARK',
  0x200f: 'RIGHT-TO-LEFT MARK',
  0x2060: 'WORD JOINER',
  0xfeff: 'ZERO WIDTH NO-BREAK SPACE (BOM)',
};

/** Look-alikes: code point → [name, ASCII it imitates]. */
const LOOKALIKES: Record<number, [string, string]> = {
  0x2010: ['HYPHEN', '-'],
  0x2011: ['NON-BREAKING HYPHEN', '-'],
  0x2012: ['FIGURE DASH', '-'],
  0x2013: ['EN DASH', '-'],
  0x2014: ['EM DASH', '-'],
  0x2212: ['MINUS SIGN', '-'],
  0x2018: ['LEFT SINGLE QUOTATION MARK', "'"],
  0x2019: ['RIGHT SINGLE QUOTATION MARK', "'"],
  0x201c: ['LEFT DOUBLE QUOTATION MARK', '"'],
  0x201d: ['RIGHT DOUBLE QUOTATION MARK', '"'],
  0xff0e: ['FULLWIDTH FULL STOP', '.'],
  0x3002: ['IDEOGRAPHIC FULL STOP', '.'],
  0xff1a: ['FULLWIDTH COLON', ':'],
  0x0430: ['CYRILLIC SMALL LETTER A', 'a'],
  0x0435: ['CYRILLIC SMALL LETTER IE', 'e'],
  0x043e: ['CYRILLIC SMALL LETTER O', 'o'],
  0x0440: ['CYRILLIC SMALL LETTER ER', 'p'],
  0x0441: ['CYRILLIC SMALL LETTER ES', 'c'],
  0x0443: ['CYRILLIC SMALL LETTER U', 'y'],
  0x0445: ['CYRILLIC SMALL LETTER HA', 'x'],
  0x0455: ['CYRILLIC SMALL LETTER DZE', 's'],
  0x0456: ['CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I', 'i'],
  0x0458: ['CYRILLIC SMALL LETTER JE', 'j'],
  0x04bb: ['CYRILLIC SMALL LETTER SHHA', 'h'],
  0x0501: ['CYRILLIC SMALL LETTER KOMI DE', 'd'],
  0x0410: ['CYRILLIC CAPITAL LETTER A', 'A'],
  0x0412: ['CYRILLIC CAPITAL LETTER VE', 'B'],
  0x0415: ['CYRILLIC CAPITAL LETTER IE', 'E'],
  0x041a: ['CYRILLIC CAPITAL LETTER KA', 'K'],
  0x041c: ['CYRILLIC CAPITAL LETTER EM', 'M'],
  0x041d: ['CYRILLIC CAPITAL LETTER EN', 'H'],
  0x041e: ['CYRILLIC CAPITAL LETTER O', 'O'],
  0x0420: ['CYRILLIC CAPITAL LETTER ER', 'P'],
  0x0421: ['CYRILLIC CAPITAL LETTER ES', 'C'],
  0x0422: ['CYRILLIC CAPITAL LETTER TE', 'T'],
  0x0425: ['CYRILLIC CAPITAL LETTER HA', 'X'],
  0x03bf: ['GREEK SMALL LETTER OMICRON', 'o'],
  0x03b1: ['GREEK SMALL LETTER ALPHA', 'a'],
  0x03b9: ['GREEK SMALL LETTER IOTA', 'i'],
  0x039f: ['GREEK CAPITAL LETTER OMICRON', 'O'],
  0x0391: ['GREEK CAPITAL LETTER ALPHA', 'A'],
  0x0392: ['GREEK CAPITAL LETTER BETA', 'B'],
  0x0395: ['GREEK CAPITAL LETTER EPSILON', 'E'],
  0x0399: ['GREEK CAPITAL LETTER IOTA', 'I'],
  0x039a: ['GREEK CAPITAL LETTER KAPPA', 'K'],
  0x039d: ['GREEK CAPITAL LETTER NU', 'N'],
  0x03a4: ['GREEK CAPITAL LETTER TAU', 'T'],
  0x0131: ['LATIN SMALL LETTER DOTLESS I', 'i'],
};

/** The first character outside printable ASCII, described; undefined if there is none. */
export function firstOddCharacter(text: string): OddCharacter | undefined {
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e) continue;
    return describe(char, code);
  }
  return undefined;
}

function describe(char: string, code: number): OddCharacter {
  if (INVISIBLE[code]) return { code, char, name: INVISIBLE[code], ascii: code === 0x00a0 ? ' ' : '' };
  const look = LOOKALIKES[code];
  if (look) return { code, char, name: look[0], ascii: look[1] };
  // Fullwidth forms of ASCII (U+FF01–U+FF5E) map back by a fixed offset.
  if (code >= 0xff01 && code <= 0xff5e)
    return { code, char, name: 'FULLWIDTH FORM', ascii: String.fromCodePoint(code - 0xfee0) };
  return { code, char };
}

function hex(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** `the invisible character U+200B ZERO WIDTH SPACE`, `"а" (U+0430 CYRILLIC SMALL LETTER A, which looks like "a")`. */
export function describeCharacter(odd: OddCharacter): string {
  const label = `${hex(odd.code)}${odd.name ? ` ${odd.name}` : ''}`;
  if (odd.ascii === '') return `the invisible character ${label}`;
  if (odd.code < 0x20 || odd.code === 0x7f) return `the control character ${label}`;
  if (odd.ascii !== undefined) return `${JSON.stringify(odd.char)} (${label}, which looks like "${odd.ascii}")`;
  return `the non-ASCII character ${JSON.stringify(odd.char)} (${label})`;
}

/** The text with every invisible character removed and every look-alike replaced; undefined if any other remains. */
export function asciiLookalike(text: string): string | undefined {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e) {
      out += char;
      continue;
    }
    const odd = describe(char, code);
    if (odd.ascii === undefined) return undefined;
    out += odd.ascii;
  }
  return out;
}
