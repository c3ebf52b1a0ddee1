import { describe, expect, it } from 'vitest';
import { resolvePolicy, revalidateArgv, TEMPLATE_NAMES, TEMPLATES, validateScanRequest } from './index.ts';

describe('templates', () => {
  it.each(TEMPLATE_NAMES)('%s passes validation under the default policy', (name) => {
    const r = validateScanRequest({ target: '10.0.0.5', template: name });
    expect(r.ok ? 'ok' : r.error.message).toBe('ok');
  });

  it('keep the facts of the original', () => {
    expect(TEMPLATES.thorough).toBe('-T4 -Pn -p- -sV -sC');
    expect(TEMPLATES.discovery).toBe('-sn -T4');
  });

  it('never mix -sn with port options (the original DISCOVERY defect)', () => {
    const r = validateScanRequest({ target: '10.0.0.0/24', template: 'discovery' });
    expect(r.ok && r.argv).toEqual(['-sn', '-n', '-T4', '--max-parallelism', '10', '--', '10.0.0.0/24']);
  });

  it('run all ports for thorough (the original rejected its own -p-)', () => {
    const r = validateScanRequest({ target: '10.0.0.5', template: 'thorough' });
    expect(r.ok && r.argv).toContain('-p-');
  });
});

describe('validateScanRequest never throws', () => {
  it.each([
    undefined,
    null,
    42,
    'x',
    [],
    { target: null },
    { target: {} },
    { target: '10.0.0.5', args: 5 },
    { target: '10.0.0.5', template: 5 },
  ])('on %j', (input) => {
    const r = validateScanRequest(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.recoverySuggestion).not.toBe('');
  });
});

describe('revalidateArgv (the runner re-check)', () => {
  const open = resolvePolicy({ allowIntrusive: true, allowEvasion: true });
  if (!open.ok) throw new Error('policy');

  it('accepts every canonical argv unchanged', () => {
    const requests = [
      ...TEMPLATE_NAMES.map((template) => ({ target: '10.0.0.5', template })),
      { target: ['fd00::1', 'web.lab.internal'], args: '-sT -p 22,80 --script http-title,safe -sC --open' },
      { target: '10.0.0.0/24', args: '-A -D 10.0.1.9,ME --spoof-mac 0 --script-args http.useragent=x' },
      { target: '10.0.0.5', args: '-PS22,80 -p- -T2 -vv --reason' },
    ];
    for (const request of requests) {
      const first = validateScanRequest(request, open.policy);
      if (!first.ok) throw new Error(first.error.message);
      const again = revalidateArgv(first.argv, open.policy);
      expect(again.ok && again.argv).toEqual(first.argv);
    }
  });

  it('refuses a forged or widened argv', () => {
    const good = validateScanRequest({ target: '10.0.0.5', template: 'quick' });
    if (!good.ok) throw new Error('setup');
    const widened = [...good.argv.slice(0, -1), '8.8.8.8'];
    expect(revalidateArgv(widened).ok).toBe(false);
    const extra = ['-iL', '/etc/passwd', ...good.argv];
    expect(revalidateArgv(extra).ok).toBe(false);
    const noDashes = good.argv.filter((t) => t !== '--');
    expect(revalidateArgv(noDashes).ok).toBe(false);
    const intrusive = validateScanRequest({ target: '10.0.0.5', args: '--script vuln' }, open.policy);
    expect(intrusive.ok && revalidateArgv(intrusive.argv).ok).toBe(false);
  });

  it('refuses an argv that validates but is not canonical', () => {
    const r = revalidateArgv(['-p', '80', '--', '10.0.0.5']);
    expect(!r.ok && r.error.message).toMatch(/not in canonical form/);
    expect(revalidateArgv('nmap -p 80').ok).toBe(false);
  });
});
