/**
 * What a failed connection to the edge means, in one line and a fix, for the person at the terminal (doctor) and
 * in the run log (`link.error`). Pure: the URL and the error Node gave.
 */
export interface Explained {
  detail: string;
  fix: string;
}

const UNTRUSTED_CERT = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function hostPort(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === 'wss:' || url.protocol === 'https:' ? 443 : 80)}`;
}

export function explainConnectError(urlText: string, error: Error & { code?: string }): Explained {
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    return { detail: error.message, fix: 'Check --server.' };
  }
  const where = hostPort(url);
  const tls = url.protocol === 'wss:' || url.protocol === 'https:';
  const code = error.code ?? '';
  const first = error.message.split('\n')[0]!;
  if (
    tls &&
    (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(error.message))
  ) {
    return {
      detail: `${where} speaks plain HTTP, not TLS, so wss:// cannot work there (${code || 'wrong version number'})`,
      fix: `Use ws://${where} if the edge runs on this host (plain is allowed on loopback only), or put TLS in front of the edge (a reverse proxy or tunnel) and keep wss://.`,
    };
  }
  if (UNTRUSTED_CERT.has(code)) {
    return {
      detail: `${where} presents a TLS certificate this host does not trust (${code})`,
      fix: 'Give the edge a certificate from a public CA, or give Node your CA: NODE_EXTRA_CA_CERTS=/path/ca.pem in runner.env.',
    };
  }
  if (code === 'ECONNREFUSED') {
    return {
      detail: `nothing listens on ${where} (connection refused)`,
      fix: 'Start the edge, or correct the host and port in --server (SCANGATE_SERVER).',
    };
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return {
      detail: `cannot resolve ${url.hostname} (${code})`,
      fix: "Correct the host name in --server, or fix this host's DNS.",
    };
  }
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' || /timed? ?out/i.test(first)) {
    return {
      detail: `no answer from ${where} in time`,
      fix: 'Check that a firewall or proxy lets this host reach the edge on that port.',
    };
  }
  if (code === 'ECONNRESET' || /socket hang up/.test(first)) {
    return {
      detail: `${where} closed the connection before answering`,
      fix: tls
        ? 'Check that the port serves the scangate edge over TLS.'
        : 'If the port speaks TLS, use wss:// instead of ws://.',
    };
  }
  return { detail: `${where}: ${first}`, fix: 'Check --server (SCANGATE_SERVER) and that the edge is up.' };
}
