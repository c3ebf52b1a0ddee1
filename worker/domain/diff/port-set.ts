/**
 * nmap's port lists ("1,3-4,6-7,9", its `<scaninfo services=…>` syntax) as sorted ranges, for "was this port
 * probed?". Pure. Anything that is not digits, commas and dashes yields null: an unreadable list means the coverage
 * is unknown, never "everything".
 */
export type PortSet = readonly (readonly [number, number])[];

export function parsePortList(text: string): PortSet | null {
  if (!/^[0-9,-]*$/.test(text)) return null;
  const ranges: Array<[number, number]> = [];
  for (const item of text.split(',')) {
    if (item === '') continue;
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item);
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo > hi || hi > 65535) return null;
    ranges.push([lo, hi]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [lo, hi] of ranges) {
    const last = merged.at(-1);
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else merged.push([lo, hi]);
  }
  return merged;
}

/** Whether `port` is in the set (binary search: a /24 diff asks this tens of thousands of times). */
export function portSetHas(set: PortSet, port: number): boolean {
  let lo = 0;
  let hi = set.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = set[mid]!;
    if (port < a) hi = mid - 1;
    else if (port > b) lo = mid + 1;
    else return true;
  }
  return false;
}
