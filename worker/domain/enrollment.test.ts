import { describe, expect, it } from 'vitest';
import { enrollmentShard, enrollmentVerdict, installCommand, mintEnrollmentCode } from './enrollment.ts';

describe('enrollment codes (pure)', () => {
  it('carry their shard and nothing else parses as one', () => {
    const code = mintEnrollmentCode('c', () => 'A'.repeat(24));
    expect(code).toBe(`sge_c${'A'.repeat(24)}`);
    expect(enrollmentShard(code)).toBe('c');
    for (const bad of [
      '',
      'sge_',
      `sge_g${'A'.repeat(24)}`,
      `sge_c${'A'.repeat(23)}`,
      `sgr_c${'A'.repeat(24)}`,
      `sge_c${'A'.repeat(23)}/`,
    ])
      expect([bad, enrollmentShard(bad)]).toEqual([bad, undefined]);
  });

  it('work until they expire, once, and never when revoked (revoked, then used, then expired is the answer)', () => {
    const at = 1_000_000;
    expect(enrollmentVerdict({ expiresAt: at + 1, usedAt: null, revokedAt: null }, at)).toBe('ok');
    expect(enrollmentVerdict({ expiresAt: at, usedAt: null, revokedAt: null }, at)).toBe('expired');
    expect(enrollmentVerdict({ expiresAt: at - 1, usedAt: at - 5, revokedAt: null }, at)).toBe('used');
    expect(enrollmentVerdict({ expiresAt: at - 1, usedAt: at - 5, revokedAt: at - 2 }, at)).toBe('revoked');
  });

  it('name the install command for the edge the admin reached', () => {
    expect(installCommand('https://edge.example', 'sge_0x', ['10.20.0.0/16', '10.21.0.0/16'])).toBe(
      'curl -fsSL https://edge.example/install/runner.sh | sudo sh -s -- --server wss://edge.example --enroll sge_0x --network 10.20.0.0/16 --network 10.21.0.0/16',
    );
  });
});
