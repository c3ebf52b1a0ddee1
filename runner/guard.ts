import { isIP } from 'node:net';
import { scanError, type JsonObject, type ScanError } from '../shared/errors/index.ts';
import { resolvePolicy, revalidateArgv, type Policy } from '../shared/policy/index.ts';
import { compileTargetRules, parseTarget } from '../shared/policy/targets.ts';
import type { JobDispatch } from '../shared/protocol/index.ts';
import { checkScripts, type LocalScripts } from './nmap-scripts.ts';

/** Looks up every address of a name (A and AAAA). Injectable so tests need no DNS. */
export type Resolver = (hostname: string) => Promise<string[]>;

export interface GuardContext {
  networks: readonly string[];
  privileged: boolean;
  allowIntrusive: boolean;
  allowEvasion: boolean;
  resolve: Resolver;
  /** This runner's nmap scripts and their categories; undefined if nmap could not list them. */
  scripts: LocalScripts | undefined;
}

export type GuardResult = { ok: true; argv: string[]; resolved: Map<string, string> } | { ok: false; error: ScanError };

const RESOLVE_TIMEOUT_MS = 5000;

function refuse(message: string, recoverySuggestion: string, details?: JsonObject): GuardResult {
  return { ok: false, error: scanError('validation_error', message, recoverySuggestion, details && { details }) };
}

function policyFor(dispatch: JobDispatch, networks: readonly string[], intrusive: boolean, evasion: boolean): Policy {
  const r = resolvePolicy({
    ...dispatch.policy,
    allowedNetworks: [...networks],
    allowIntrusive: intrusive,
    allowEvasion: evasion,
  });
  if (!r.ok) throw new Error(`runner policy: ${r.error.message}`);
  return r.policy;
}

/**
 * The runner's own check of a dispatched job, before anything runs: the argv must be canonical under the
 * same grammar, every target inside this runner's networks, raw-socket scans only on a privileged runner,
 * every script known to this runner's own nmap exactly as the catalog records it, and hostnames resolved
 * here to addresses that are all inside the networks. Returns the argv to run: the dispatched one with each
 * hostname replaced by its resolved address. The canonical argv always carries `-n`, so nmap never looks a
 * name up (no DNS-rebinding window, no reverse lookups for NSE to follow).
 */
export async function guardDispatch(dispatch: JobDispatch, ctx: GuardContext): Promise<GuardResult> {
  const asEdgeAllowed = revalidateArgv(
    dispatch.argv,
    policyFor(dispatch, ctx.networks, dispatch.policy.allowIntrusive, dispatch.policy.allowEvasion),
  );
  if (!asEdgeAllowed.ok) {
    const e = asEdgeAllowed.error;
    const outside = /not (?:wholly )?inside an allowed network/.test(e.message);
    return {
      ok: false,
      error: outside
        ? scanError(
            'validation_error',
            e.message.replace(/an allowed network/, "this runner's networks"),
            `This runner scans only ${ctx.networks.join(', ')}.`,
            e.details && { details: e.details },
          )
        : e,
    };
  }
  const local = revalidateArgv(
    dispatch.argv,
    policyFor(
      dispatch,
      ctx.networks,
      dispatch.policy.allowIntrusive && ctx.allowIntrusive,
      dispatch.policy.allowEvasion && ctx.allowEvasion,
    ),
  );
  if (!local.ok) {
    return refuse(
      `This runner does not allow that scan: ${local.error.message}`,
      'The lab admin can start the runner with --allow-intrusive or --allow-evasion to consent to such scans on this host.',
    );
  }
  const scriptProblem = checkScripts(dispatch.argv, ctx.scripts, dispatch.policy.allowIntrusive && ctx.allowIntrusive);
  if (scriptProblem) return { ok: false, error: scriptProblem };
  if (local.needsPrivilege && !ctx.privileged) {
    return refuse(
      'This scan needs raw sockets, and this runner is not privileged',
      'Use a connect scan (-sT) without OS detection or traceroute, or run it on a runner with root or CAP_NET_RAW.',
    );
  }

  const argv = [...dispatch.argv];
  const dashes = argv.indexOf('--');
  const family = argv.slice(0, dashes).includes('-6') ? 6 : 4;
  const rules = compileTargetRules({
    allowedNetworks: ctx.networks,
    allowedHostSuffixes: [],
    maxHosts: 65536,
    maxTargets: 256,
  });
  const resolved = new Map<string, string>();
  for (const target of local.targets) {
    if (target.kind !== 'hostname') continue;
    let addresses: string[];
    try {
      addresses = await withTimeout(ctx.resolve(target.value), RESOLVE_TIMEOUT_MS);
    } catch (e) {
      return refuse(
        `${target.value} does not resolve on this runner (${(e as Error).message})`,
        'Check the name in the lab DNS, or give its address.',
        {
          target: target.value,
        },
      );
    }
    if (addresses.length === 0)
      return refuse(`${target.value} has no addresses`, 'Check the name in the lab DNS, or give its address.');
    for (const address of addresses) {
      const inside = isIP(address) !== 0 ? parseTarget(address, rules) : undefined;
      if (!inside?.ok || inside.target.kind !== 'address') {
        return refuse(
          `${target.value} resolves to ${address}, which is outside this runner's networks`,
          `Every address of a name must lie inside ${ctx.networks.join(', ')}; fix the DNS record or scan by address.`,
          { target: target.value, address },
        );
      }
    }
    const pick = addresses.find((a) => isIP(a) === family);
    if (!pick) {
      return refuse(
        `${target.value} has no IPv${family} address for this IPv${family} scan`,
        'Scan it in a scan of the other address family.',
      );
    }
    const canonical = parseTarget(pick, rules);
    const literal = canonical.ok ? canonical.target.value : pick;
    argv[argv.indexOf(target.value, dashes + 1)] = literal;
    resolved.set(literal, target.value);
  }
  return { ok: true, argv, resolved };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
