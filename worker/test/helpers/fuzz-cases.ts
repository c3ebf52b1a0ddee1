import fc from 'fast-check';

/**
 * Malformed requests for worker/fuzz.test.ts: every route of the Worker crossed with the ways a hostile or broken
 * client gets a request wrong, plus malformed MCP messages. Deterministic: fixed seeds, fixed counts. No case is a
 * well-formed scan (one could reach routing and get a legitimate 503 `no_runner`); apart from the few the test names
 * (odd headers beside a valid token), every answer MUST be a refusal in the error taxonomy, and none a 5xx.
 */
export interface FuzzCase {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: BodyInit;
}

/** Who a case is sent as; tokens are filled in by the test. */
export interface FuzzTokens {
  admin: string;
  scan: string;
  poolAdmin: string;
  runner: string;
}

type Role = 'none' | 'scan' | 'admin' | 'runner';

interface Route {
  method: string;
  path: string;
  /** The least role it needs ('none': it reads no bearer token). */
  role: Role;
  /** Takes a JSON body. */
  json?: boolean;
  /** Has an id in its path: `{id}` is replaced by bad ids. */
  id?: boolean;
  /** Query keys it validates, with bad values to try. */
  query?: Record<string, string[]>;
}

/** Every route of worker/index.ts and its sub-apps. Mutating admin routes aim at a pool of their own. */
const ROUTES: Route[] = [
  { method: 'GET', path: '/health', role: 'none' },
  { method: 'GET', path: '/metrics', role: 'admin' },
  { method: 'POST', path: '/v1/validate', role: 'scan', json: true },
  {
    method: 'GET',
    path: '/v1/scripts',
    role: 'scan',
    query: { allowed: ['yes', ''], category: ['DISCOVERY', '../x', 'a'.repeat(40)] },
  },
  { method: 'POST', path: '/v1/scans', role: 'scan', json: true },
  {
    method: 'GET',
    path: '/v1/scans',
    role: 'scan',
    query: {
      limit: ['-1', '0', '101', 'abc', '1e309', '1.5'],
      status: ['done', 'RUNNING'],
      cursor: ['abc', '1.', "1.x'--"],
      mine: ['1', 'yes'],
    },
  },
  { method: 'GET', path: '/v1/scans/{id}', role: 'scan', id: true },
  { method: 'GET', path: '/v1/scans/{id}/events', role: 'scan', id: true },
  { method: 'POST', path: '/v1/scans/{id}/cancel', role: 'scan', id: true },
  { method: 'POST', path: '/v1/tokens', role: 'admin', json: true },
  { method: 'DELETE', path: '/v1/tokens/{id}', role: 'admin', id: true },
  { method: 'POST', path: '/v1/runners', role: 'admin', json: true },
  { method: 'GET', path: '/v1/runners', role: 'admin', query: { pool: ['UPPER', '', 'a'.repeat(40), 'x/y'] } },
  { method: 'DELETE', path: '/v1/runners/{id}?pool=fuzz-pool', role: 'admin', id: true },
  { method: 'GET', path: '/v1/policy', role: 'admin', query: { pool: ['Bad Pool', '%00'] } },
  { method: 'PUT', path: '/v1/policy?pool=fuzz-pool', role: 'admin', json: true },
  { method: 'GET', path: '/v1/breakers', role: 'admin', query: { pool: ['-'.repeat(33), 'ü'] } },
  { method: 'POST', path: '/v1/breakers/{id}/reset?pool=fuzz-pool', role: 'admin', id: true },
  {
    method: 'GET',
    path: '/v1/audit',
    role: 'admin',
    query: {
      limit: ['501', '-5', 'NaN'],
      cursor: ['x', '1'.repeat(20)],
      kind: ['all'],
      action: ['Token.create', '*'],
      since: ['yesterday', '2026-13-45'],
      until: ['0x1'],
    },
  },
  { method: 'GET', path: '/v1/runners/self', role: 'runner' },
  { method: 'GET', path: '/v1/runners/connect', role: 'runner' },
  { method: 'GET', path: '/dashboard/events', role: 'none' },
  { method: 'GET', path: '/dashboard/scans/{id}/events', role: 'none', id: true },
  { method: 'POST', path: '/dashboard/actions', role: 'none' },
  { method: 'POST', path: '/dashboard/logout', role: 'none' },
];

const BAD_IDS = [
  'nope',
  'scan_',
  `scan_${'a'.repeat(300)}`,
  '..%2F..%2Fv1%2Faudit',
  '%00',
  '%E2%80%AE',
  'scan_%C0%AF',
  "scan_x'OR'1'='1",
  '%FF%FE',
];
/** Methods no route of that path takes (GET /v1/scans exists beside POST, PUT /v1/policy beside GET). */
const WRONG_METHODS: Record<string, string[]> = {
  GET: ['PATCH', 'DELETE'],
  POST: ['PATCH', 'PUT'],
  PUT: ['PATCH', 'POST'],
  DELETE: ['PATCH', 'PUT'],
};

/** Bodies that are not what a JSON route takes, fixed by seed. */
function badBodies(seed: number): Array<{ name: string; body: BodyInit; contentType?: string }> {
  const truncated = fc
    .sample(
      fc.json({ maxDepth: 3 }).filter((s) => s.length > 2),
      { seed, numRuns: 2 },
    )
    .map((s) => s.slice(0, Math.ceil(s.length / 2)));
  // Objects of the wrong shape: an unknown key always, so a strict schema can never accept one by chance.
  const wrongShape = fc.sample(
    fc.record({
      target: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.dictionary(fc.string(), fc.integer())),
      __fuzz: fc.anything(),
    }),
    { seed, numRuns: 2 },
  );
  const bytes = fc.sample(fc.uint8Array({ minLength: 8, maxLength: 64 }), { seed, numRuns: 1 })[0]!;
  return [
    ...truncated.map((body) => ({ name: 'truncated JSON', body })),
    ...wrongShape.map((value) => ({ name: 'wrong field types', body: JSON.stringify(value) })),
    { name: 'JSON array', body: '[1,2,3]' },
    { name: 'JSON null', body: 'null' },
    { name: 'deeply nested JSON array', body: `${'['.repeat(5000)}${']'.repeat(5000)}` },
    { name: 'deeply nested JSON object', body: `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}` },
    { name: 'huge number', body: `{"timeoutSec": 1${'0'.repeat(400)}, "target": 7}` },
    {
      name: 'non-UTF-8 bytes',
      body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0xc0, 0xaf, 0x22, 0x3a, 0xed, 0xa0, 0x80, 0x7d, ...bytes]),
    },
    { name: 'text/plain body', body: 'target=127.0.0.1', contentType: 'text/plain' },
    { name: 'form body', body: 'target=127.0.0.1&args=-sT', contentType: 'application/x-www-form-urlencoded' },
    {
      name: 'multipart with a bad boundary',
      body: '--x\r\nContent-Disposition: form-data; name="target"\r\n\r\n127.0.0.1\r\n',
      contentType: 'multipart/form-data; boundary=',
    },
    { name: 'over 64 KiB', body: JSON.stringify({ target: 7, pad: 'x'.repeat(70 * 1024) }) },
    { name: 'empty', body: '' },
  ];
}

function tokenFor(role: Role, tokens: FuzzTokens): string | undefined {
  return role === 'none' ? undefined : role === 'scan' ? tokens.scan : role === 'runner' ? tokens.runner : tokens.admin;
}

/** One role too few for the route (or a token of the wrong kind). */
function wrongRoleFor(role: Role, tokens: FuzzTokens): string | undefined {
  return role === 'admin' ? tokens.scan : role === 'scan' ? tokens.runner : role === 'runner' ? tokens.scan : undefined;
}

export function restCases(tokens: FuzzTokens, seed = 12): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const garbageTokens = fc.sample(
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 40 }).map((s) => s.replace(/[^\x21-\x7e]/g, 'x')),
    { seed, numRuns: 2 },
  );
  const authHeaders = [
    ['no token', {}],
    ['not a bearer header', { authorization: `Basic ${btoa('admin:admin')}` }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['token of 600 characters', { authorization: `Bearer ${'a'.repeat(600)}` }],
    ['minted-looking token', { authorization: 'Bearer sgt_0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' }],
    ...garbageTokens.map((t) => ['garbage token', { authorization: `Bearer ${t}` }] as const),
  ] as Array<[string, Record<string, string>]>;
  for (const route of ROUTES) {
    const path = route.path.replace('{id}', 'scan_fuzzfuzzfuzz');
    const token = tokenFor(route.role, tokens);
    const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const at = (name: string, c: Omit<FuzzCase, 'name'>) =>
      cases.push({ name: `${route.method} ${route.path}: ${name}`, ...c });
    if (route.role !== 'none')
      for (const [name, headers] of authHeaders) at(name, { method: route.method, path, headers });
    const wrong = wrongRoleFor(route.role, tokens);
    if (wrong) at('wrong role', { method: route.method, path, headers: { authorization: `Bearer ${wrong}` } });
    if (route.role === 'admin')
      at('admin token of another pool', {
        method: route.method,
        path: path.includes('?')
          ? path.replace(/pool=[^&]*/, 'pool=default')
          : `${path}${path.includes('?') ? '&' : '?'}pool=default`,
        headers: { authorization: `Bearer ${tokens.poolAdmin}` },
      });
    for (const method of WRONG_METHODS[route.method] ?? [])
      at(`wrong method ${method}`, { method, path, headers: auth });
    at('a header of 16 KiB and 60 junk headers', {
      method: route.method,
      path,
      headers: {
        ...auth,
        'x-junk': 'j'.repeat(16 * 1024),
        ...Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`x-junk-${i}`, '\x7f%00'])),
      },
    });
    if (route.json) {
      for (const bad of badBodies(seed + cases.length))
        at(bad.name, {
          method: route.method,
          path,
          headers: { ...auth, 'content-type': bad.contentType ?? 'application/json' },
          body: bad.body,
        });
      at('JSON with no content type', { method: route.method, path, headers: auth, body: '{"target":1}' });
    }
    if (route.id)
      for (const id of BAD_IDS)
        at(`bad id ${id.slice(0, 20)}`, { method: route.method, path: route.path.replace('{id}', id), headers: auth });
    for (const [key, values] of Object.entries(route.query ?? {})) {
      for (const value of values)
        at(`bad query ${key}=${value.slice(0, 20)}`, {
          method: route.method,
          path: `${path}${path.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`,
          headers: auth,
        });
    }
  }
  // Dashboard forms without a session, with a forged session, or from another origin.
  for (const path of ['/dashboard/actions', '/dashboard/logout']) {
    cases.push({
      name: `${path}: forged session cookie`,
      method: 'POST',
      path,
      headers: {
        cookie: 'sg_session=forged; __Host-sg_session=forged',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'action=scan-cancel&target=x&csrf=y',
    });
    cases.push({
      name: `${path}: cross-origin`,
      method: 'POST',
      path,
      headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'action=runner-revoke&target=x',
    });
  }
  // Dashboard logins that cannot succeed: throttled per address after ten, so they come from the test's own address.
  const guesses = fc.sample(fc.string({ unit: 'binary-ascii', minLength: 0, maxLength: 80 }), { seed, numRuns: 8 });
  for (const [i, guess] of guesses.entries()) {
    cases.push({
      name: `POST /dashboard/login: bad token ${i}`,
      method: 'POST',
      path: '/dashboard/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${encodeURIComponent(`fz${guess}`)}`,
    });
  }
  cases.push({
    name: 'POST /dashboard/login: a runner token',
    method: 'POST',
    path: '/dashboard/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `token=${tokens.runner}`,
  });
  cases.push({
    name: 'POST /dashboard/login: a scan token',
    method: 'POST',
    path: '/dashboard/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `token=${tokens.scan}`,
  });
  cases.push({
    name: 'POST /dashboard/login: non-UTF-8 form',
    method: 'POST',
    path: '/dashboard/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new Uint8Array([0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x3d, 0xff, 0xfe, 0xc0]),
  });
  cases.push({
    name: 'POST /dashboard/login: JSON instead of a form',
    method: 'POST',
    path: '/dashboard/login',
    headers: { 'content-type': 'application/json' },
    body: '{"token":',
  });
  cases.push({
    name: 'POST /dashboard/login: multipart with a bad boundary',
    method: 'POST',
    path: '/dashboard/login',
    headers: { 'content-type': 'multipart/form-data; boundary=' },
    body: '--x\r\n',
  });
  cases.push({
    name: 'POST /dashboard/login: cross-origin',
    method: 'POST',
    path: '/dashboard/login',
    headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
    body: 'token=x',
  });
  for (const id of BAD_IDS.slice(0, 4))
    cases.push({
      name: `GET /dashboard/scans/{id}: bad id ${id.slice(0, 20)}, no session`,
      method: 'GET',
      path: `/dashboard/scans/${id}`,
    });
  cases.push({ name: 'unknown path', method: 'GET', path: '/v2/scans' });
  cases.push({ name: 'path traversal', method: 'GET', path: '/v1/../../etc/passwd' });
  cases.push({ name: 'encoded slash in path', method: 'GET', path: '/v1%2Fscans' });
  cases.push({
    name: 'runner link with an upgrade and no token',
    method: 'GET',
    path: '/v1/runners/connect',
    headers: { upgrade: 'websocket' },
  });
  cases.push({
    name: 'runner link upgrade with a scan token',
    method: 'GET',
    path: '/v1/runners/connect',
    headers: { upgrade: 'websocket', authorization: `Bearer ${tokens.scan}` },
  });
  return cases;
}

/** Headers an MCP client sends with a POST. */
const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
};

export function mcpCases(tokens: FuzzTokens, seed = 45): FuzzCase[] {
  const auth = { authorization: `Bearer ${tokens.scan}` };
  const post = (name: string, message: unknown, headers: Record<string, string> = {}): FuzzCase => ({
    name: `MCP ${name}`,
    method: 'POST',
    path: '/mcp',
    headers: { ...MCP_HEADERS, ...auth, ...headers },
    body:
      typeof message === 'string' || message instanceof Uint8Array ? (message as BodyInit) : JSON.stringify(message),
  });
  const call = (name: string, args: unknown, id: unknown = 7) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: args },
  });
  const badArgs = fc.sample(
    fc.record({
      target: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.integer(), { minLength: 1, maxLength: 3 })),
      args: fc.oneof(fc.integer(), fc.boolean()),
    }),
    { seed, numRuns: 4 },
  );
  const cases: FuzzCase[] = [
    // Not JSON, not JSON-RPC.
    post('truncated JSON', '{"jsonrpc":"2.0","id":1,"method":"tools/li'),
    post('non-UTF-8 bytes', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
    post('empty body', ''),
    post('a JSON string', '"tools/list"'),
    post('JSON null', 'null'),
    post('an empty object', {}),
    post('jsonrpc 1.0', { jsonrpc: '1.0', id: 1, method: 'tools/list' }),
    post('no method', { jsonrpc: '2.0', id: 1 }),
    post('method is a number', { jsonrpc: '2.0', id: 1, method: 42 }),
    post('id is an object', { jsonrpc: '2.0', id: { a: 1 }, method: 'tools/list' }),
    post('result with no request', { jsonrpc: '2.0', id: 99, result: {} }),
    // Unknown methods.
    post('unknown method', { jsonrpc: '2.0', id: 1, method: 'scans/delete_all', params: {} }),
    post('resources/read (not offered)', {
      jsonrpc: '2.0',
      id: 1,
      method: 'resources/read',
      params: { uri: 'file:///etc/passwd' },
    }),
    post('prompts/get (not offered)', { jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name: 'x' } }),
    post('sampling from the client', { jsonrpc: '2.0', id: 1, method: 'sampling/createMessage', params: {} }),
    // Wrong params.
    post('tools/call with params null', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: null }),
    post('tools/call with params an array', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: ['nmap_scan'] }),
    post('tools/call with no name', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: {} } }),
    post('tools/call with a numeric name', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 5 } }),
    post('tools/call of an unknown tool', call('rm_rf', {})),
    post('tools/call of a tool named like a prototype', call('__proto__', {})),
    post('tasks/get of an unknown task', { jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { taskId: 'nope' } }),
    post('tasks/result of an unknown task', {
      jsonrpc: '2.0',
      id: 1,
      method: 'tasks/result',
      params: { taskId: '../../etc' },
    }),
    post('tasks/cancel with no task id', { jsonrpc: '2.0', id: 1, method: 'tasks/cancel', params: {} }),
    post(
      'tools/call with arguments nested 5000 deep',
      `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"validate_scan","arguments":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}}`,
    ),
    post('initialize with params a string', { jsonrpc: '2.0', id: 1, method: 'initialize', params: 'hello' }),
    // Batches (refused since MCP 2025-06-18).
    post('empty batch', []),
    post('batch of one', [{ jsonrpc: '2.0', id: 1, method: 'tools/list' }]),
    post(
      'batch of 100 scans',
      Array.from({ length: 100 }, (_, i) => call('nmap_scan', { target: '127.0.0.1' }, i)),
    ),
    post('batch of garbage', [1, 'x', null]),
    // Bad tool arguments.
    ...badArgs.map((args) => post('nmap_scan with wrong argument types', call('nmap_scan', args))),
    post('nmap_scan with no arguments', call('nmap_scan', undefined)),
    post('nmap_scan with arguments a string', call('nmap_scan', '127.0.0.1')),
    post('nmap_scan with an input file', call('nmap_scan', { target: '127.0.0.1', args: '-iL /etc/passwd' })),
    post('nmap_scan of a public address', call('nmap_scan', { target: '8.8.8.8' })),
    post('nmap_scan with a target of 300 characters', call('nmap_scan', { target: `${'a'.repeat(300)}.lab` })),
    post('get_scan of a bad id', call('get_scan', { scanId: 'scan_../../x' })),
    post('get_scan of another id form', call('get_scan', { scanId: 12 })),
    post('cancel_scan of a missing scan', call('cancel_scan', { scanId: 'scan_doesnotexist00' })),
    post('list_scans with limit -1', call('list_scans', { limit: -1 })),
    post('list_scans with a bad status', call('list_scans', { status: 'exploded' })),
    post('validate_scan with a target object', call('validate_scan', { target: { host: 'x' } })),
    post(
      'validate_scan with an unknown template',
      call('validate_scan', { target: '127.0.0.1', template: 'everything' }),
    ),
    // Oversized.
    post('over 64 KiB', call('validate_scan', { target: '127.0.0.1', args: `-p ${'1,'.repeat(40_000)}1` })),
    // Transport-level mistakes.
    post('no Accept header', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { accept: '' }),
    post('Accept text/html', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { accept: 'text/html' }),
    post(
      'Accept application/json only',
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { accept: 'application/json' },
    ),
    post('content type text/plain', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'content-type': 'text/plain' }),
    post(
      'unsupported protocol version',
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { 'mcp-protocol-version': '1999-01-01' },
    ),
    post(
      'a session id no one issued',
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: 5 } },
      { 'mcp-session-id': 'forged-session' },
    ),
    post(
      'a runner token',
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { authorization: `Bearer ${tokens.runner}` },
    ),
    post('no token', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: '' }),
    post('a foreign Origin', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { origin: 'https://evil.example' }),
    {
      name: 'MCP GET (no standalone stream)',
      method: 'GET',
      path: '/mcp',
      headers: { ...auth, accept: 'text/event-stream' },
    },
    {
      name: 'MCP DELETE (no session to end)',
      method: 'DELETE',
      path: '/mcp',
      headers: { ...auth, 'mcp-session-id': 'forged-session' },
    },
    { name: 'MCP PUT', method: 'PUT', path: '/mcp', headers: { ...MCP_HEADERS, ...auth }, body: '{}' },
  ];
  return cases;
}
