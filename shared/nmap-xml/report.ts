import { z } from 'zod';

/**
 * The report a runner builds from nmap's XML output. Banners, hostnames and script output are untrusted
 * text from the scanned network: consumers MUST treat every string here as data (escape it in HTML, never
 * interpret it), and the schema bounds their length so a hostile service cannot bloat a frame.
 */
const text = (max: number) => z.string().max(max);

export const ScriptResultSchema = z.strictObject({
  id: text(128),
  output: text(16_384),
});

export const ServiceSchema = z.strictObject({
  name: text(128).nullable(),
  product: text(256).nullable(),
  version: text(256).nullable(),
  extraInfo: text(512).nullable(),
  tunnel: text(32).nullable(),
  method: text(32).nullable(),
  confidence: z.number().int().min(0).max(10).nullable(),
});

export const PortSchema = z.strictObject({
  protocol: z.enum(['tcp', 'udp', 'sctp', 'ip']),
  port: z.number().int().min(0).max(65535),
  state: text(32),
  reason: text(64).nullable(),
  service: ServiceSchema.nullable(),
  cpe: z.array(text(256)).max(32),
  scripts: z.array(ScriptResultSchema).max(64),
});

export const HostSchema = z.strictObject({
  status: z.enum(['up', 'down', 'unknown', 'skipped']),
  reason: text(64).nullable(),
  addresses: z
    .array(z.strictObject({ addr: text(64), type: z.enum(['ipv4', 'ipv6', 'mac']), vendor: text(128).nullable() }))
    .max(8),
  hostnames: z.array(z.strictObject({ name: text(253), type: text(16).nullable() })).max(16),
  ports: z.array(PortSchema).max(65536 * 2),
  /** Ports not listed one by one (nmap's <extraports>), by state. */
  extraPorts: z.array(z.strictObject({ state: text(32), count: z.number().int().min(0) })).max(16),
  hostScripts: z.array(ScriptResultSchema).max(64),
  os: z.array(z.strictObject({ name: text(256), accuracy: z.number().int().min(0).max(100) })).max(16),
});

/**
 * What nmap probed, from its `<scaninfo>` elements: one per scan type, with the ports it sent probes to in nmap's
 * own range syntax ("1,3-4,6-7,…"). A diff reports a port closed only if the later scan probed it
 * (worker/domain/diff). Optional: runners before it send none, and then nothing can be reported gone.
 */
export const ProbeSchema = z.strictObject({
  type: text(32),
  protocol: z.enum(['tcp', 'udp', 'sctp', 'ip']),
  /** nmap's `services` attribute; null when it was longer than the bound (the coverage is then unknown). */
  ports: text(262_144).nullable(),
});

export const ReportSchema = z.strictObject({
  scanner: z.strictObject({
    version: text(32).nullable(),
    args: text(8192).nullable(),
    startedAt: z.iso.datetime().nullable(),
    endedAt: z.iso.datetime().nullable(),
  }),
  probes: z.array(ProbeSchema).max(8).optional(),
  hosts: z.array(HostSchema).max(65536),
  stats: z.strictObject({
    hostsUp: z.number().int().min(0),
    hostsDown: z.number().int().min(0),
    hostsTotal: z.number().int().min(0),
    elapsedSec: z.number().min(0).nullable(),
    exit: z.enum(['success', 'error']).nullable(),
    summary: text(1024).nullable(),
    errorMessage: text(1024).nullable(),
  }),
});

export type ScriptResult = z.infer<typeof ScriptResultSchema>;
export type Service = z.infer<typeof ServiceSchema>;
export type Port = z.infer<typeof PortSchema>;
export type Host = z.infer<typeof HostSchema>;
export type Probe = z.infer<typeof ProbeSchema>;
export type Report = z.infer<typeof ReportSchema>;
