/**
 * A scan's raw output and nmap XML as MCP resources (`resources/read`), the full results a tool result's summary
 * links to with `resource_link` items (results.ts):
 *   scangate://scans/{scanId}/output  nmap's normal output (text/plain; its last 1 MiB, `_meta` says what came before)
 *   scangate://scans/{scanId}/xml     nmap's XML exactly as the runner sent it (application/xml, ≤ MAX_XML_BYTES)
 * Read through the same Coordinator calls as GET /v1/scans/:id and /xml, so the same rule holds: the token that
 * started the scan, or an admin of its pool, reads it; anyone else gets "not found" (-32602) and no bytes, exactly
 * as for a scan that does not exist.
 */
import { type McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ReadResourceResult, Resource } from '@modelcontextprotocol/sdk/types.js';
import type { ScanError } from '../../../shared/errors/index.ts';
import { SCAN_ID_PATTERN, scanNotFound } from '../../../shared/scan/index.ts';
import type { Principal } from '../auth.ts';
import type { Coordinator } from '../../objects/coordinator.do.ts';
import { resourceLinks, scanResourceUri } from './results.ts';
import { forMcp } from './wording.ts';

/**
 * The answer to reading a resource that does not exist (or that the caller may not know exists): MCP 2026-07-28
 * says a resources/read miss MUST be Invalid Params (-32602) with `data: { uri }` (earlier revisions used -32002,
 * which clients still accept). With exactly that data the v2 SDK client raises its ResourceNotFoundError.
 */
export const RESOURCE_NOT_FOUND = -32602;

/** Scans whose resources resources/list offers: the caller's newest. */
const LISTED_SCANS = 20;

/**
 * The JSON-RPC error for a resource that is not there, with the taxonomy's message and fix (worded for MCP) in its
 * message. A plain Error with `code` and `data`, which the SDK sends as they are (an McpError would send its message
 * with "MCP error -32602: " in front, and clients add their own).
 */
function notFound(uri: string, error: ScanError): Error {
  const worded = forMcp(error);
  return Object.assign(
    new Error(`Resource ${uri} not found: ${worded.message}. What to do: ${worded.recoverySuggestion}`),
    { code: RESOURCE_NOT_FOUND, data: { uri } },
  );
}

/** The template variable as one scan id, or undefined when it is not one. */
function scanIdOf(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && SCAN_ID_PATTERN.test(value) ? value : undefined;
}

export function registerScanResources(
  server: McpServer,
  coordinator: DurableObjectStub<Coordinator>,
  principal: Principal,
): void {
  // One list for both templates (the SDK merges every template's list): the caller's newest scans, each with the
  // resources it has.
  const list = async (): Promise<{ resources: Resource[] }> => {
    const { scans } = await coordinator.listScans(principal, { limit: LISTED_SCANS, mine: true });
    return {
      resources: scans.flatMap((scan) =>
        resourceLinks(scan).map(({ type: _type, ...link }) => link as Resource & { uri: string; name: string }),
      ),
    };
  };

  server.registerResource(
    'scan-output',
    new ResourceTemplate(scanResourceUri('{scanId}', 'output'), { list }),
    {
      title: 'Scan output',
      description: "nmap's normal output of a scan you started (its last 1 MiB).",
      mimeType: 'text/plain',
    },
    async (uri, variables): Promise<ReadResourceResult> => {
      const href = uri.toString();
      const id = scanIdOf(variables.scanId);
      if (!id) throw notFound(href, scanNotFound(String(variables.scanId)));
      const got = await coordinator.getScan(principal, id);
      if (!got.ok) throw notFound(href, got.error);
      const { output, outputOmittedBytes } = got.value;
      return {
        contents: [
          {
            uri: href,
            mimeType: 'text/plain',
            text: output,
            ...(outputOmittedBytes > 0 && { _meta: { 'scangate/omittedBytes': outputOmittedBytes } }),
          },
        ],
      };
    },
  );

  server.registerResource(
    'scan-xml',
    new ResourceTemplate(scanResourceUri('{scanId}', 'xml'), { list: undefined }),
    {
      title: 'Scan nmap XML',
      description: "nmap's XML (-oX) of a scan you started, exactly as nmap wrote it.",
      mimeType: 'application/xml',
    },
    async (uri, variables): Promise<ReadResourceResult> => {
      const href = uri.toString();
      const id = scanIdOf(variables.scanId);
      if (!id) throw notFound(href, scanNotFound(String(variables.scanId)));
      const pages: string[] = [];
      let truncated = false;
      for (let afterSeq: number | null = 0; afterSeq !== null; ) {
        const page = await coordinator.readXml(principal, id, afterSeq);
        if (!page.ok) throw notFound(href, page.error);
        pages.push(page.value.data);
        truncated = page.value.truncated;
        afterSeq = page.value.nextSeq;
      }
      return {
        contents: [
          {
            uri: href,
            mimeType: 'application/xml',
            text: pages.join(''),
            ...(truncated && { _meta: { 'scangate/truncated': true } }),
          },
        ],
      };
    },
  );
}
