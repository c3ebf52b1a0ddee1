import type { Report } from '../../../shared/nmap-xml/index.ts';

/**
 * What the scan results of the MCP tools are cut to, and the one reading of a report they share: the hosts up, each
 * with its open ports. Pure. results.ts builds structuredContent from it, summary.ts the text.
 */
export const MAX_PAGE_HOSTS = 50;
export const MAX_PAGE_PORTS = 100;
/** Hosts and ports named in the text at most; the rest are counted. */
export const MAX_TEXT_HOSTS = 20;
export const MAX_TEXT_PORTS = 40;
/** Notable script findings listed in the text at most. */
export const MAX_TEXT_FINDINGS = 5;
/** The longest summary text (extra text a caller asks for, such as an output tail, comes on top). */
export const MAX_SUMMARY_CHARS = 2000;

/** The MCP resources of a scan (scan.resources.ts serves them). */
export function scanResourceUri(scanId: string, kind: 'output' | 'xml'): string {
  return `scangate://scans/${scanId}/${kind}`;
}

/** An open port as the results list it (results.ts declares its schema). */
export interface OpenPort {
  host: string;
  port: number;
  protocol: string;
  service?: string;
  product?: string;
  version?: string;
}

export interface UpHost {
  address: string;
  hostname: string | undefined;
  openPorts: OpenPort[];
}

/** The hosts up, in report order, with their open ports. */
export function upHosts(report: Report): UpHost[] {
  return report.hosts
    .filter((h) => h.status === 'up')
    .map((h) => {
      const address = h.addresses.find((a) => a.type !== 'mac')?.addr ?? h.hostnames[0]?.name ?? '?';
      const openPorts = h.ports
        .filter((p) => p.state === 'open')
        .map((p) => ({
          host: address,
          port: p.port,
          protocol: p.protocol,
          ...(p.service?.name && { service: p.service.name }),
          ...(p.service?.product && { product: p.service.product }),
          ...(p.service?.version && { version: p.service.version }),
        }));
      return { address, hostname: h.hostnames[0]?.name, openPorts };
    });
}
