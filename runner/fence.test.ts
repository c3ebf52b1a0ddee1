import { describe, expect, it } from 'vitest';
import { fencedCommand, jobRuleset } from './fence.ts';

describe('the fence ruleset (pure; the real nft is exercised in test/runner-fence.test.ts)', () => {
  it('accepts only the networks of each family from the job cgroup, drops the rest of it, and leaves all else alone', () => {
    const rules = jobRuleset('scangate_runner_42_job0', { nftPath: 'unified/scangate-runner-42-job0', level: 1 }, [
      '10.20.0.0/16',
      '127.0.0.1/32',
      'fd00::/8',
    ]);
    expect(rules).toContain('table inet scangate_runner_42_job0 {');
    expect(rules).toContain('set allow4 { type ipv4_addr; flags interval; elements = { 10.20.0.0/16, 127.0.0.1/32 } }');
    expect(rules).toContain('set allow6 { type ipv6_addr; flags interval; elements = { fd00::/8 } }');
    expect(rules).toContain('type filter hook output priority filter; policy accept;');
    const lines = rules.split('\n').map((l) => l.trim());
    const match = 'socket cgroupv2 level 1 "unified/scangate-runner-42-job0"';
    // Every rule is about the job's cgroup: nothing else on the host is matched; the drop comes last.
    expect(lines.filter((l) => l.includes('accept') || l.includes('drop')).slice(1)).toEqual([
      `${match} meta nfproto ipv4 ip daddr @allow4 accept`,
      `${match} meta nfproto ipv6 ip6 daddr @allow6 accept`,
      `${match} counter drop`,
    ]);
  });

  it('an IPv4-only runner gets an empty IPv6 set: every IPv6 packet of the job is dropped', () => {
    expect(jobRuleset('t', { nftPath: 'x', level: 1 }, ['127.0.0.1/32'])).toContain(
      'set allow6 { type ipv6_addr; flags interval; }',
    );
  });

  it('joins the cgroup in the shell before exec, so nmap never runs outside it', () => {
    expect(fencedCommand('/sys/fs/cgroup/j/cgroup.procs', ['setpriv', '--', 'nmap', '-sT'])).toEqual([
      '/bin/sh',
      '-c',
      'echo $$ > "$0" && exec "$@"',
      '/sys/fs/cgroup/j/cgroup.procs',
      'setpriv',
      '--',
      'nmap',
      '-sT',
    ]);
  });
});
