/**
 * Bait for the NSE containment test, run inside the test's own network namespace (loopback only):
 * - a web site on 127.0.0.1:<port> whose pages link to, embed, redirect to and name URLs on 127.0.0.2:<port>
 *   (same port on purpose: nmap's httpspider treats any host on a non-80/443 port as "within host");
 * - a tripwire on 127.0.0.2: TCP and UDP on <port>, and DNS on 53 (the namespace's resolv.conf points there),
 *   reporting every connection, datagram and lookup as a JSON line `{"hit": …}` on stdout.
 * Prints `{"ready": true}` once everything listens. Stops on SIGTERM.
 */
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';

const port = Number(process.argv[2]);
const BAIT = '127.0.0.1';
const TRAP = '127.0.0.2';
const away = `http://${TRAP}:${port}`;

function report(hit: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ hit })}\n`);
}

const page = `<!doctype html><html><head><title>bait</title>
<meta http-equiv="refresh" content="30;url=${away}/refresh">
<link rel="alternate" type="application/rss+xml" title="feed" href="${away}/feed.xml">
<link rel="alternate" type="application/atom+xml" href="/feed.xml">
<link rel="stylesheet" href="${away}/style.css">
<script src="${away}/app.js"></script>
</head><body>
<a href="${away}/page.html">away</a> <a href="//${TRAP}:${port}/proto-relative">relative</a>
<a href="${away}/index.php?id=1">php</a> <a href="/local.html">local</a> <a href="/redirect">redirect</a>
<a href="/feed.xml">feed</a> <a href="${away}/download.zip">zip</a>
<img src="${away}/img.jpg"><iframe src="${away}/frame.html"></iframe>
<form action="${away}/login.php" method="post"><input name="user"><input type="password" name="pass"><input type="file" name="upload"><input type="submit"></form>
<form action="/search" method="get"><input name="q"></form>
<!-- ${away}/comment.html -->
</body></html>`;

const feed = `<?xml version="1.0"?><rss version="2.0"><channel><title>bait</title><link>${away}/</link>
<item><title>x</title><link>${away}/item.html</link><enclosure url="${away}/a.mp3" type="audio/mpeg"/></item>
</channel></rss>`;

const web = createHttpServer((req, res) => {
  const path = req.url ?? '/';
  const html = (status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'text/html', Server: 'Apache/2.4.1 (Unix)', ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (path === '/' || path.startsWith('/index') || path === '/local.html') return html(200, page);
  if (path === '/feed.xml') return html(200, feed, { 'Content-Type': 'application/rss+xml' });
  if (path === '/robots.txt')
    return html(200, `User-agent: *\nDisallow: /private\nSitemap: ${away}/sitemap.xml\n`, {
      'Content-Type': 'text/plain',
    });
  if (path === '/crossdomain.xml') {
    return html(
      200,
      `<?xml version="1.0"?><cross-domain-policy><allow-access-from domain="${TRAP}"/></cross-domain-policy>`,
      { 'Content-Type': 'text/xml' },
    );
  }
  // Everything else (the redirect link, and every path a script probes) moves away from the target.
  return html(302, page, {
    Location: `${away}${path}`,
    'Content-Location': `${away}${path}`,
    Link: `<${away}/linked>; rel="preload"`,
  });
});

const tcpTrap = createTcpServer((socket) => {
  socket.once('data', (data) =>
    report({ proto: 'tcp', port, from: socket.remoteAddress, data: data.toString('latin1').slice(0, 120) }),
  );
  report({ proto: 'tcp', port, from: socket.remoteAddress });
  socket.on('error', () => {});
  setTimeout(() => socket.destroy(), 200);
});
const udpTrap = createSocket('udp4');
udpTrap.on('message', (data, from) => report({ proto: 'udp', port, from: from.address, bytes: data.length }));
const dnsTrap = createSocket('udp4');
dnsTrap.on('message', (data, from) => report({ proto: 'dns', port: 53, from: from.address, bytes: data.length }));
const dnsTcpTrap = createTcpServer((socket) => {
  report({ proto: 'dns-tcp', port: 53, from: socket.remoteAddress });
  socket.destroy();
});

await Promise.all([
  new Promise<void>((resolve) => web.listen(port, BAIT, resolve)),
  new Promise<void>((resolve) => tcpTrap.listen(port, TRAP, resolve)),
  new Promise<void>((resolve) => udpTrap.bind(port, TRAP, resolve)),
  new Promise<void>((resolve) => dnsTrap.bind(53, TRAP, resolve)),
  new Promise<void>((resolve) => dnsTcpTrap.listen(53, TRAP, resolve)),
]);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
process.on('SIGTERM', () => process.exit(0));
