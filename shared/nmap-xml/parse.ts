import { XMLParser } from 'fast-xml-parser';
import type { Host, Port, Probe, Report, ScriptResult, Service } from './report.ts';

/**
 * nmap XML (`-oX`) → Report. Pure: no I/O. Every string from the XML is untrusted text from the scanned
 * network; it is kept as text, cut to the report's bounds, and never interpreted.
 */

const ARRAYS = new Set([
  'host',
  'address',
  'hostname',
  'port',
  'script',
  'cpe',
  'extraports',
  'osmatch',
  'elem',
  'table',
  'scaninfo',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  parseTagValue: false,
  processEntities: true,
  // nmap writes dashes and newlines as numeric references (-&#45;, &#xa;); this option decodes them.
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
  isArray: (name) => ARRAYS.has(name),
});

type Node = Record<string, unknown>;

function list(value: unknown): Node[] {
  return Array.isArray(value) ? (value as Node[]) : [];
}

// C0 controls and DEL, except tab and newline: a banner may carry terminal escapes meant for whoever reads it.
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

function str(value: unknown, max: number): string | null {
  if (typeof value !== 'string' || value.length === 0) return null;
  const clean = value.replace(CONTROL, '');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

function int(value: unknown): number | null {
  if (typeof value !== 'string' || !/^-?[0-9]+$/.test(value)) return null;
  return Number(value);
}

function iso(epochSeconds: unknown): string | null {
  const n = int(epochSeconds);
  return n === null ? null : new Date(n * 1000).toISOString();
}

const MAX_SCRIPTS = 64;

function scripts(node: unknown): ScriptResult[] {
  return list(node)
    .slice(0, MAX_SCRIPTS)
    .map((s) => ({ id: str(s.id, 128) ?? '?', output: str(s.output, 16_384) ?? '' }));
}

function service(node: unknown): Service | null {
  if (typeof node !== 'object' || node === null) return null;
  const s = node as Node;
  const confidence = int(s.conf);
  return {
    name: str(s.name, 128),
    product: str(s.product, 256),
    version: str(s.version, 256),
    extraInfo: str(s.extrainfo, 512),
    tunnel: str(s.tunnel, 32),
    method: str(s.method, 32),
    confidence: confidence === null ? null : Math.min(10, Math.max(0, confidence)),
  };
}

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp', 'ip']);

function port(node: Node): Port | null {
  const number = int(node.portid);
  const protocol = typeof node.protocol === 'string' && PROTOCOLS.has(node.protocol) ? node.protocol : null;
  if (number === null || number < 0 || number > 65535 || protocol === null) return null;
  const state = (node.state ?? {}) as Node;
  const svc = node.service as Node | undefined;
  return {
    protocol: protocol as Port['protocol'],
    port: number,
    state: str(state.state, 32) ?? 'unknown',
    reason: str(state.reason, 64),
    service: service(svc),
    cpe: list(svc?.cpe as unknown)
      .map((c) => str(typeof c === 'string' ? c : (c as Node)['#text'], 256))
      .filter((c): c is string => c !== null)
      .slice(0, 32),
    scripts: scripts(node.script),
  };
}

const STATUSES = new Set(['up', 'down', 'unknown', 'skipped']);
const ADDRESS_TYPES = new Set(['ipv4', 'ipv6', 'mac']);

function host(node: Node): Host {
  const status = (node.status ?? {}) as Node;
  const ports = (node.ports ?? {}) as Node;
  const os = (node.os ?? {}) as Node;
  const hostscript = (node.hostscript ?? {}) as Node;
  return {
    status: (typeof status.state === 'string' && STATUSES.has(status.state)
      ? status.state
      : 'unknown') as Host['status'],
    reason: str(status.reason, 64),
    addresses: list(node.address)
      .filter((a) => typeof a.addrtype === 'string' && ADDRESS_TYPES.has(a.addrtype))
      .slice(0, 8)
      .map((a) => ({
        addr: str(a.addr, 64) ?? '',
        type: a.addrtype as 'ipv4' | 'ipv6' | 'mac',
        vendor: str(a.vendor, 128),
      })),
    hostnames: list(((node.hostnames ?? {}) as Node).hostname)
      .slice(0, 16)
      .map((h) => ({ name: str(h.name, 253) ?? '', type: str(h.type, 16) })),
    ports: list(ports.port)
      .map(port)
      .filter((p): p is Port => p !== null),
    extraPorts: list(ports.extraports)
      .slice(0, 16)
      .map((e) => ({ state: str(e.state, 32) ?? 'unknown', count: Math.max(0, int(e.count) ?? 0) })),
    hostScripts: scripts(hostscript.script),
    os: list(os.osmatch)
      .slice(0, 16)
      .map((m) => ({ name: str(m.name, 256) ?? '', accuracy: Math.min(100, Math.max(0, int(m.accuracy) ?? 0)) })),
  };
}

const PORT_LIST = /^[0-9,-]*$/;

function probe(node: Node): Probe | null {
  const protocol = typeof node.protocol === 'string' && PROTOCOLS.has(node.protocol) ? node.protocol : null;
  if (protocol === null) return null;
  const ports = typeof node.services === 'string' && PORT_LIST.test(node.services) ? node.services : null;
  return {
    type: str(node.type, 32) ?? 'unknown',
    protocol: protocol as Probe['protocol'],
    ports: ports !== null && ports.length <= 262_144 ? ports : null,
  };
}

export type ParseResult = { ok: true; report: Report } | { ok: false; problem: string };

/** Parses nmap's XML output. An unfinished file (nmap killed mid-scan) still yields the hosts it holds. */
export function parseNmapXml(xml: string): ParseResult {
  let doc: Node;
  try {
    doc = parser.parse(xml) as Node;
  } catch (e) {
    return { ok: false, problem: `nmap XML could not be parsed: ${(e as Error).message}` };
  }
  const run = doc.nmaprun as Node | undefined;
  if (typeof run !== 'object' || run === null) return { ok: false, problem: 'no <nmaprun> element in the XML output' };
  const stats = (run.runstats ?? {}) as Node;
  const finished = (stats.finished ?? {}) as Node;
  const counts = (stats.hosts ?? {}) as Node;
  const hosts = list(run.host).map(host);
  const up = int(counts.up) ?? hosts.filter((h) => h.status === 'up').length;
  const down = int(counts.down) ?? hosts.filter((h) => h.status === 'down').length;
  const elapsed = typeof finished.elapsed === 'string' ? Number(finished.elapsed) : Number.NaN;
  return {
    ok: true,
    report: {
      scanner: {
        version: str(run.version, 32),
        args: str(run.args, 8192),
        startedAt: iso(run.start),
        endedAt: iso(finished.time),
      },
      probes: list(run.scaninfo)
        .slice(0, 8)
        .map(probe)
        .filter((p): p is Probe => p !== null),
      hosts,
      stats: {
        hostsUp: Math.max(0, up),
        hostsDown: Math.max(0, down),
        hostsTotal: Math.max(0, int(counts.total) ?? up + down),
        elapsedSec: Number.isFinite(elapsed) && elapsed >= 0 ? elapsed : null,
        exit: finished.exit === 'success' || finished.exit === 'error' ? finished.exit : null,
        summary: str(finished.summary, 1024),
        errorMessage: str(finished.errormsg, 1024),
      },
    },
  };
}

/** Open ports of a report, for summaries. */
export function openPorts(report: Report): Array<{ host: string; port: Port }> {
  return report.hosts.flatMap((h) =>
    h.ports
      .filter((p) => p.state === 'open')
      .map((p) => ({ host: h.addresses[0]?.addr ?? h.hostnames[0]?.name ?? '?', port: p })),
  );
}
