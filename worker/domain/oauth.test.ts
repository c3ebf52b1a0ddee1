import { describe, expect, it } from 'vitest';
import { consentDecision, grantPrincipal, mintGrantId, roleOfScopes, shardOfGrantId } from './oauth.ts';

describe('consentDecision', () => {
  it('grants the baseline when nothing we know is asked, and says what it ignored', () => {
    expect(consentDecision([], 'scan')).toEqual({ ok: true, granted: ['scan'], ignored: [] });
    expect(consentDecision(['offline_access', 'mcp:read'], 'scan')).toEqual({
      ok: true,
      granted: ['scan'],
      ignored: ['offline_access', 'mcp:read'],
    });
  });

  it('refuses admin to anyone but an admin (never narrows it silently); admin implies scan', () => {
    expect(consentDecision(['admin'], 'scan')).toMatchObject({ ok: false, reason: expect.stringMatching(/admin/) });
    expect(consentDecision(['scan', 'admin'], 'scan').ok).toBe(false);
    expect(consentDecision(['admin'], 'admin')).toEqual({ ok: true, granted: ['scan', 'admin'], ignored: [] });
    expect(consentDecision(['scan'], 'admin')).toEqual({ ok: true, granted: ['scan'], ignored: [] });
    expect(consentDecision(['scan'], 'runner').ok).toBe(false);
  });
});

describe('roleOfScopes and grantPrincipal', () => {
  it('acts with what both the grant and the token carry', () => {
    expect(roleOfScopes(['scan', 'admin'], ['scan', 'admin'])).toBe('admin');
    expect(roleOfScopes(['scan', 'admin'], ['scan'])).toBe('scan'); // a token narrowed at refresh
    expect(roleOfScopes(['scan'], ['scan', 'admin'])).toBe('scan'); // more on the token than granted: not admin
    expect(roleOfScopes(['scan'], [])).toBeNull();
  });

  it('an OAuth client is its grant, in its approver’s pool', () => {
    const grant = {
      grantId: mintGrantId('7'),
      clientId: 'c',
      clientName: 'Agent',
      scopes: ['scan'],
      pool: 'lab-2',
      approvedBy: 'alice',
    };
    expect(shardOfGrantId(grant.grantId)).toBe('7');
    expect(shardOfGrantId('ogr_x')).toBeUndefined();
    expect(grantPrincipal(grant, ['scan'])).toEqual({
      tokenId: grant.grantId,
      name: 'Agent (OAuth, approved by alice)',
      role: 'scan',
      pool: 'lab-2',
    });
    expect(grantPrincipal(grant, [])).toBeNull();
  });
});
