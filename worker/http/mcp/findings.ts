import type { Report } from '../../../shared/nmap-xml/index.ts';

/**
 * The script results worth a line in an agent's summary, and how many others there are. Pure.
 *
 * The rule: a script result is notable when its output says, in the words NSE scripts use for it, that something is
 * exploitable or exposed. By rank, most severe first:
 *   0 vulnerable:  the vulns library's "State: VULNERABLE" / "LIKELY VULNERABLE" (every *-vuln-* script; its
 *                  "State: NOT VULNERABLE" makes the result not notable at all, CVE id or not);
 *   1 access:      "Valid credentials" (brute scripts), "Anonymous … login allowed", an empty password accepted;
 *   2 known CVEs:  a CVE id in the output (vulners and friends);
 *   3 weak setup:  SMB signing not required or disabled, risky HTTP methods, SSLv2 or SSHv1 offered, a TLS cipher
 *                  grade below B (ssl-enum-ciphers' "least strength"), a certificate expired when the scan ran.
 * Everything else (titles, host keys, banners) is counted, not shown: it is in the XML and the report. The same
 * finding (script and line) on many hosts is one entry with the count of places it was seen, so a /24 with one
 * misconfiguration everywhere reads as one line, and different findings get the room.
 */
export interface Finding {
  rank: number;
  scriptId: string;
  /** The line of output that makes it notable (for vulns: the vulnerability's title), trimmed. */
  line: string;
  /** Where it was seen: `address port/proto`, or the address alone for a host script. */
  where: string[];
}

export interface Findings {
  /** Notable findings, most severe first, then most widespread. */
  notable: Finding[];
  /** Script results in the report, notable or not. */
  total: number;
}

const RULES: ReadonlyArray<{ rank: number; test: RegExp }> = [
  { rank: 0, test: /State: (?:LIKELY )?VULNERABLE\b/ },
  { rank: 1, test: /Valid credentials|Anonymous \w+ login allowed|empty password|<empty>\s*(?:=>|-) Valid/i },
  { rank: 2, test: /\bCVE-\d{4}-\d{4,}/ },
  {
    rank: 3,
    test: /Message signing enabled but not required|message_signing: disabled|Potentially risky methods|SSLv2 supported|Server supports SSHv1|least strength: [C-F]\b/,
  },
];

/** The vulns library puts the title on the line after "VULNERABLE:"; other rules quote the line that matched. */
function lineOf(output: string, rank: number, test: RegExp): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (rank === 0) {
    const header = lines.findIndex((l) => /^(?:LIKELY )?VULNERABLE:$/.test(l));
    if (header >= 0 && lines[header + 1]) return lines[header + 1]!;
  }
  return lines.find((l) => test.test(l)) ?? lines[0] ?? '';
}

/** "Not valid after:  2013-04-01T23:59:59" in ssl-cert output, before the scan started. */
function expiredCertificate(output: string, scannedAt: number | null): string | undefined {
  const after = /Not valid after: +(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2})?)/.exec(output)?.[1];
  if (!after || scannedAt === null) return undefined;
  const expiry = Date.parse(after.length === 10 ? `${after}T00:00:00Z` : `${after.replace(' ', 'T')}Z`);
  return Number.isFinite(expiry) && expiry < scannedAt ? `certificate expired ${after.slice(0, 10)}` : undefined;
}

function judge(id: string, output: string, scannedAt: number | null): { rank: number; line: string } | undefined {
  // The vulns library names the CVE it checked for even when the answer is no.
  if (/State: NOT VULNERABLE/.test(output) && !RULES[0]!.test.test(output)) return undefined;
  for (const rule of RULES) {
    if (rule.test.test(output)) return { rank: rule.rank, line: lineOf(output, rule.rank, rule.test) };
  }
  if (id === 'ssl-cert') {
    const expired = expiredCertificate(output, scannedAt);
    if (expired) return { rank: 3, line: expired };
  }
  return undefined;
}

export function scriptFindings(report: Report): Findings {
  const scannedAt = report.scanner.startedAt ? Date.parse(report.scanner.startedAt) : null;
  const byKey = new Map<string, Finding>();
  let total = 0;
  const consider = (id: string, output: string, where: string) => {
    total++;
    const verdict = judge(id, output, scannedAt);
    if (!verdict) return;
    const key = `${id}\n${verdict.line}`;
    const known = byKey.get(key);
    if (known) known.where.push(where);
    else byKey.set(key, { rank: verdict.rank, scriptId: id, line: verdict.line, where: [where] });
  };
  for (const host of report.hosts) {
    if (host.status !== 'up') continue;
    const address = host.addresses.find((a) => a.type !== 'mac')?.addr ?? host.hostnames[0]?.name ?? '?';
    for (const port of host.ports)
      for (const s of port.scripts) consider(s.id, s.output, `${address} ${port.port}/${port.protocol}`);
    for (const s of host.hostScripts) consider(s.id, s.output, address);
  }
  const notable = [...byKey.values()].sort((a, b) => a.rank - b.rank || b.where.length - a.where.length);
  return { notable, total };
}
