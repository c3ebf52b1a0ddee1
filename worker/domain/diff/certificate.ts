/**
 * The parts of an `ssl-cert` script's output a diff compares: subject, issuer, expiry and fingerprint. Pure. The
 * output is untrusted text from the scanned service; it is only matched line by line, never interpreted further.
 * Line names are the ones nmap's ssl-cert.nse writes ("Subject:", "Issuer:", "Not valid after:", "SHA-1:").
 */
export interface CertificateFacts {
  subject: string | null;
  issuer: string | null;
  /** As nmap prints it (`2028-01-04T07:37:15`, UTC). */
  notAfter: string | null;
  sha1: string | null;
}

function line(output: string, label: string): string | null {
  for (const raw of output.split('\n')) {
    const text = raw.trim();
    if (text.startsWith(label)) return text.slice(label.length).trim() || null;
  }
  return null;
}

export function certificateFacts(output: string): CertificateFacts | null {
  const facts = {
    subject: line(output, 'Subject:'),
    issuer: line(output, 'Issuer:'),
    notAfter: line(output, 'Not valid after:'),
    sha1: line(output, 'SHA-1:'),
  };
  return Object.values(facts).every((v) => v === null) ? null : facts;
}

/** Milliseconds since the epoch of nmap's `Not valid after` (UTC, no zone in the text), or null. */
export function certificateExpiry(facts: CertificateFacts): number | null {
  if (!facts.notAfter || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(facts.notAfter)) return null;
  const ms = Date.parse(`${facts.notAfter}Z`);
  return Number.isFinite(ms) ? ms : null;
}
