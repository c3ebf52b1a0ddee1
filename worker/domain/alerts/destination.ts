import ipaddr from 'ipaddr.js';
import { scanError, type ScanError } from '../../../shared/errors/index.ts';

/**
 * Where an admin may send alerts. Pure. MUST hold:
 * - https only, on its default port (443): webhook receivers (Slack, Teams, anyone's HTTPS endpoint) live there,
 *   and a free choice of port would turn the Worker into a probe of services that speak other protocols;
 * - no user name or password in the URL (they would sit in storage and logs; a receiver authenticates deliveries by
 *   their signature);
 * - no IP literal outside public unicast (loopback, private, link-local, metadata addresses): the SSRF guard the
 *   runtime's global_fetch_strictly_public gives in production, checked here too so the admin gets a clear error;
 * - never the Worker itself (its PUBLIC_ORIGIN or the host the request came to): an alert must not call scangate;
 * - plain http, on any port, only to a loopback literal (127.0.0.0/8, [::1]) and only where the deployment allows
 *   it (Worker var ALLOW_LOOPBACK_WEBHOOKS=1: local development and the tests). No hostname is resolved here.
 */
export interface DestinationRules {
  allowLoopback: boolean;
  /** Hosts (host[:port]) the Worker answers at. */
  selfHosts: readonly string[];
}

const invalid = (message: string, fix: string, url: string): ScanError =>
  scanError('validation_error', message, fix, { details: { field: 'url', url: url.slice(0, 200) } });

function literal(hostname: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const bare = hostname.replace(/^\[|\]$/g, '');
  return ipaddr.isValid(bare) ? ipaddr.parse(bare) : null;
}

function isLoopback(hostname: string): boolean {
  const address = literal(hostname);
  return address !== null && address.range() === 'loopback';
}

/** The canonical URL to store, or the error to show. */
export function checkDestination(
  raw: string,
  rules: DestinationRules,
): { ok: true; url: string } | { ok: false; error: ScanError } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return {
      ok: false,
      error: invalid(
        `${raw.slice(0, 100)} is not a URL`,
        "Give the receiver's full URL, e.g. https://hooks.slack.com/services/…",
        raw,
      ),
    };
  }
  if (url.username || url.password)
    return {
      ok: false,
      error: invalid(
        'The URL carries a user name or password',
        'Remove the credentials from the URL: receivers authenticate deliveries by the X-Scangate-Signature header (shown secret).',
        `${url.protocol}//${url.host}${url.pathname}`,
      ),
    };
  const loopback = isLoopback(url.hostname);
  const self = rules.selfHosts.some((h) => sameHost(h, url.host));
  if (self)
    return {
      ok: false,
      error: invalid(`${url.host} is this scangate Worker itself`, 'Send alerts to a receiver outside scangate.', raw),
    };
  if (loopback && rules.allowLoopback) {
    if (url.protocol === 'http:' || url.protocol === 'https:') return { ok: true, url: url.toString() };
  }
  if (url.protocol !== 'https:')
    return {
      ok: false,
      error: invalid(
        `${url.protocol.replace(':', '')} URLs are refused: alerts go over https only`,
        rules.allowLoopback
          ? 'Use an https:// URL, or http:// to a loopback address (127.0.0.1, [::1]) for local testing.'
          : 'Use an https:// URL.',
        raw,
      ),
    };
  if (url.port !== '')
    return {
      ok: false,
      error: invalid(
        `Port ${url.port} is refused: alerts go to the default https port (443) only`,
        'Serve the receiver on 443 (e.g. behind a reverse proxy), or drop the port from the URL.',
        raw,
      ),
    };
  const address = literal(url.hostname);
  if (address && address.range() !== 'unicast')
    return {
      ok: false,
      error: invalid(
        `${url.hostname} is a ${address.range()} address, not a public one`,
        'Send alerts to a public https receiver, by name.',
        raw,
      ),
    };
  return { ok: true, url: url.toString() };
}

/** Whether two host[:port] strings name the same place (loopback names and literals count as one host). */
function sameHost(a: string, b: string): boolean {
  if (a.toLowerCase() === b.toLowerCase()) return true;
  const split = (h: string) => {
    const u = new URL(`http://${h}`);
    return { host: u.hostname, port: u.port };
  };
  try {
    const [x, y] = [split(a), split(b)];
    const local = (host: string) => host === 'localhost' || isLoopback(host);
    return x.port === y.port && local(x.host) && local(y.host);
  } catch {
    return false;
  }
}
