import { scanError, type ScanError } from '../../shared/errors/index.ts';
import type { Report } from '../../shared/nmap-xml/index.ts';
import { isActive, type JobStatus } from '../../shared/scan/index.ts';

/**
 * The edge's judgement of the nmap XML a runner sent with a job's result. Pure.
 *
 * The edge cannot prove the document is the one nmap wrote (a runner that forges it can forge the report too), and
 * it never parses 8 MiB of it inside the Coordinator. What it checks is cheap and catches a runner that sends
 * something else: the size it stored is the size the runner declared (or the edge cut it at its own cap), the
 * document starts as nmap's does (prolog, then an `<nmaprun` root), and that root's `start` and `version` are the
 * report's. Anything else is refused: nothing is kept, and the reason is. Whatever is kept is served as an
 * attachment, never rendered (GET /v1/scans/:id/xml).
 */
export type XmlVerdict = { bytes: number; truncated: boolean } | { refused: string } | null;

/** How much of the document's start the check reads (nmap's prolog and root tag are well under 2 KiB). */
export const XML_HEAD_BYTES = 64 * 1024;

// nmap's prolog: the XML declaration, its doctype, a stylesheet PI and the "scan initiated" comment, in that order.
// A comment holds no `--` (XML forbids it; nmap writes `-&#45;`), so it cannot swallow what follows it.
const PROLOG =
  /^(?:\uFEFF)?(?:<\?xml [^>]*\?>\s*)?(?:<!DOCTYPE nmaprun>\s*)?(?:<\?xml-stylesheet [^>]*\?>\s*)?(?:<!--(?:[^-]|-(?!-))*-->\s*)?<nmaprun\s([^>]*)>/;

function attribute(attributes: string, name: string): string | undefined {
  return new RegExp(`(?:^|\\s)${name}="([^"]*)"`).exec(attributes)?.[1];
}

export function judgeXml(input: {
  /** What the runner's `job.finished` said: undefined (a runner that sends no XML), null (none) or its size. */
  declared: { bytes: number; truncated: boolean } | null | undefined;
  /** Bytes the edge stored, and whether it cut the document at its own cap. */
  storedBytes: number;
  cutAtEdge: boolean;
  /** The start of the stored document (up to XML_HEAD_BYTES). */
  head: string;
  report: Report | null;
}): XmlVerdict | undefined {
  const { declared, storedBytes, cutAtEdge, head, report } = input;
  if (declared === undefined)
    return storedBytes > 0 ? { refused: 'the runner sent XML but did not declare it' } : undefined;
  if (declared === null || (declared.bytes === 0 && storedBytes === 0))
    return storedBytes > 0 ? { refused: 'the runner sent XML but declared that nmap wrote none' } : null;
  if (!cutAtEdge && storedBytes !== declared.bytes)
    return { refused: `the runner declared ${declared.bytes} bytes of XML but sent ${storedBytes}` };
  const root = PROLOG.exec(head);
  if (!root) return { refused: 'it does not start as an nmap XML document (no <nmaprun> root after the prolog)' };
  const attributes = root[1]!;
  const start = attribute(attributes, 'start');
  const startedAt = report?.scanner.startedAt;
  if (startedAt && start !== String(Date.parse(startedAt) / 1000))
    return { refused: `its start time (${start ?? 'none'}) is not the report's (${startedAt})` };
  const version = attribute(attributes, 'version');
  if (report?.scanner.version && version !== report.scanner.version)
    return { refused: `its nmap version (${version ?? 'none'}) is not the report's (${report.scanner.version})` };
  return { bytes: storedBytes, truncated: declared.truncated || cutAtEdge };
}

/**
 * Why a scan the caller may see has no XML to serve, as a `not_found` with its fix (worded without routes, so REST
 * and MCP read it alike). `result` is what the scan kept of its runner's result (null when the runner never sent
 * one: refused, lost, cancelled in the queue); its `xml` is absent when the runner sent none.
 */
export function xmlMissing(scanId: string, status: JobStatus, result: { xml?: XmlVerdict } | null): ScanError {
  const state = result?.xml;
  if (isActive(status))
    return scanError(
      'not_found',
      `Scan ${scanId} is ${status}: nmap's XML is kept when the scan ends`,
      'Wait for the scan to end, then read its XML again.',
    );
  if (!result)
    return scanError(
      'not_found',
      `Scan ${scanId} has no XML: it ended (${status}) without a result from nmap`,
      "Read the scan's error for why, and start it again if needed.",
    );
  if (state && 'refused' in state)
    return scanError(
      'not_found',
      `Scan ${scanId} has no XML: the edge refused what its runner sent (${state.refused})`,
      "Check the runner host (scangate-runner doctor) and scan again; the scan's report and output are kept.",
    );
  if (state === null)
    return scanError(
      'not_found',
      `Scan ${scanId} has no XML: nmap wrote none`,
      "Read the scan's output and error for why.",
    );
  return scanError(
    'not_found',
    `Scan ${scanId} has no XML: its runner sent none (runners before this version do not)`,
    'Update the runner (scangate-runner update) and scan again; this scan keeps its report and output.',
  );
}
