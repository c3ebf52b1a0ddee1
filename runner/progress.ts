/**
 * Progress from nmap's `--stats-every` lines, e.g.
 *   Connect Scan Timing: About 30.20% done; ETC: 07:14 (0:00:05 remaining)
 * nmap reports each phase (host discovery, port scan, service scan, scripts) from 0 to 100 on its own.
 */
export interface Progress {
  phase: string;
  percent: number;
  etaSec?: number;
}

const TIMING =
  /^(.{1,64}?) Timing: About ([0-9]{1,3}(?:\.[0-9]+)?)% done(?:; ETC: [0-9:]+ \(([0-9]+):([0-9]{2}):([0-9]{2}) remaining\))?/;

export function parseProgressLine(line: string): Progress | undefined {
  const m = TIMING.exec(line);
  if (!m) return undefined;
  const percent = Math.min(100, Number(m[2]));
  const progress: Progress = { phase: m[1]!, percent };
  if (m[3] !== undefined) progress.etaSec = Number(m[3]) * 3600 + Number(m[4]) * 60 + Number(m[5]);
  return progress;
}
