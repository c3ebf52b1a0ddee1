/**
 * nmap XML documents for tests, written in exactly the shapes nmap 7.93 writes with `-oX` (prolog, `<nmaprun>`,
 * hosts with ports, services, cpe, port and host scripts with their elem/table children, runstats), so a test can
 * have a scan of hundreds of hosts without scanning anything: parse it with parseNmapXml for the report a runner
 * would send, and send the text itself as the runner's XML. Attribute text is escaped as nmap escapes it.
 */
export interface DocScript {
  id: string;
  output: string;
  /** The structured children nmap writes under <script> (as elem key/value pairs). */
  elems?: Record<string, string>;
}

export interface DocPort {
  port: number;
  protocol?: 'tcp' | 'udp';
  state?: string;
  service?: { name: string; product?: string; version?: string; extrainfo?: string; tunnel?: string; cpe?: string };
  scripts?: DocScript[];
}

export interface DocHost {
  addr: string;
  status?: 'up' | 'down';
  hostname?: string;
  ports?: DocPort[];
  closed?: number;
  hostScripts?: DocScript[];
}

/** Escapes attribute text as nmap does (`&`, `<`, `>`, `"`, `'`, newlines as `&#xa;`, `--` as `-&#45;`). */
export function xmlEscape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\n/g, '&#xa;')
    .replace(/--/g, '-&#45;');
}

function scriptXml(s: DocScript): string {
  const elems = Object.entries(s.elems ?? {})
    .map(([k, v]) => `<elem key="${xmlEscape(k)}">${xmlEscape(v)}</elem>\n`)
    .join('');
  return `<script id="${xmlEscape(s.id)}" output="${xmlEscape(s.output)}">${elems ? `${elems}` : ''}</script>`;
}

function portXml(p: DocPort): string {
  const s = p.service;
  const service = s
    ? `<service name="${xmlEscape(s.name)}"${s.product ? ` product="${xmlEscape(s.product)}"` : ''}${s.version ? ` version="${xmlEscape(s.version)}"` : ''}${s.extrainfo ? ` extrainfo="${xmlEscape(s.extrainfo)}"` : ''}${s.tunnel ? ` tunnel="${s.tunnel}"` : ''} method="probed" conf="10">${s.cpe ? `<cpe>${xmlEscape(s.cpe)}</cpe>` : ''}</service>`
    : '';
  const state = p.state ?? 'open';
  const reason = state === 'open' ? 'syn-ack' : 'conn-refused';
  return `<port protocol="${p.protocol ?? 'tcp'}" portid="${p.port}"><state state="${state}" reason="${reason}" reason_ttl="0"/>${service}${(p.scripts ?? []).map(scriptXml).join('')}</port>\n`;
}

function hostXml(h: DocHost, start: number): string {
  const up = (h.status ?? 'up') === 'up';
  if (!up)
    return `<host><status state="down" reason="no-response" reason_ttl="0"/>\n<address addr="${h.addr}" addrtype="ipv4"/>\n</host>\n`;
  const names = h.hostname ? `<hostname name="${xmlEscape(h.hostname)}" type="PTR"/>\n` : '';
  const extra = h.closed
    ? `<extraports state="closed" count="${h.closed}">\n<extrareasons reason="conn-refused" count="${h.closed}" proto="tcp" ports="1-${h.closed}"/>\n</extraports>\n`
    : '';
  const hostScripts = h.hostScripts?.length ? `<hostscript>${h.hostScripts.map(scriptXml).join('')}</hostscript>` : '';
  return `<host starttime="${start}" endtime="${start + 1}"><status state="up" reason="syn-ack" reason_ttl="0"/>\n<address addr="${h.addr}" addrtype="ipv4"/>\n<hostnames>\n${names}</hostnames>\n<ports>${extra}${(h.ports ?? []).map(portXml).join('')}</ports>\n${hostScripts}<times srtt="98" rttvar="3770" to="100000"/>\n</host>\n`;
}

/** A whole nmap XML document. `start` is nmap's start time in epoch seconds. */
export function nmapXmlDocument(options: { start: number; args: string; hosts: DocHost[] }): string {
  const { start, args, hosts } = options;
  const when = new Date(start * 1000).toUTCString();
  const up = hosts.filter((h) => (h.status ?? 'up') === 'up').length;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
<!-- Nmap 7.93 scan initiated ${when} as: ${xmlEscape(args)} -->
<nmaprun scanner="nmap" args="${xmlEscape(args)}" start="${start}" startstr="${when}" version="7.93" xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="1000" services="1-1000"/>
<verbose level="0"/>
<debugging level="0"/>
${hosts.map((h) => hostXml(h, start)).join('')}<runstats><finished time="${start + 9}" timestr="${when}" summary="Nmap done at ${when}; ${hosts.length} IP addresses (${up} hosts up) scanned in 9.00 seconds" elapsed="9.00" exit="success"/><hosts up="${up}" down="${hosts.length - up}" total="${hosts.length}"/>
</runstats>
</nmaprun>
`;
}
