import type { Report } from '../../shared/nmap-xml/index.ts';

/**
 * A report as CSV, one row per listed port: host, port, proto, state, service, product, version (RFC 4180, CRLF).
 * Pure. Banners are untrusted text: a cell a spreadsheet would run as a formula (= + - @, tab, CR at its start) is
 * prefixed with `'` (OWASP's CSV-injection rule), and every cell with a quote, comma or line break is quoted.
 */
export const CSV_HEADER = ['host', 'port', 'proto', 'state', 'service', 'product', 'version'] as const;

function cell(value: string | number | null): string {
  let text = value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function reportCsv(report: Report): string {
  const rows: string[] = [CSV_HEADER.join(',')];
  for (const host of report.hosts) {
    const address = host.addresses.find((a) => a.type !== 'mac')?.addr ?? host.hostnames[0]?.name ?? '';
    for (const p of host.ports) {
      rows.push(
        [
          address,
          p.port,
          p.protocol,
          p.state,
          p.service?.name ?? null,
          p.service?.product ?? null,
          p.service?.version ?? null,
        ]
          .map(cell)
          .join(','),
      );
    }
  }
  return `${rows.join('\r\n')}\r\n`;
}
