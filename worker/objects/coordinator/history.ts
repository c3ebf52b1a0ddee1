import { scanError } from '../../../shared/errors/index.ts';
import { type Scan, scanNotFound, TERMINAL } from '../../../shared/scan/index.ts';
import { diffScans, diffSummary, type ScanDiff, type ScanSide, scanChanges } from '../../domain/diff/index.ts';
import { observe } from '../../domain/inventory.ts';
import type { Principal } from '../../domain/principal.ts';
import { fail, ok, type Result } from '../../domain/result.ts';
import type {
  InventoryHost,
  InventoryHostQuery,
  InventoryQuery,
  InventoryService,
  InventoryStore,
} from '../../storage/inventory.store.ts';
import { type JobRow, toScan } from '../../storage/jobs.store.ts';
import type { Core } from './core.ts';
import type { ScanService } from './scans.ts';

/**
 * A pool's scan history: the inventory each finished scan feeds, and diffs between finished scans. Thin: the rules
 * are worker/domain/diff and worker/domain/inventory. Tenancy as everywhere: a scan token diffs and reads only
 * what its own scans saw; an admin of the pool, everything in it.
 */
export interface ScanDiffView {
  head: Pick<Scan, 'id' | 'targets' | 'argv' | 'finishedAt'>;
  /** Null when there is no earlier finished scan of the same targets to compare with. */
  base: Pick<Scan, 'id' | 'targets' | 'argv' | 'finishedAt'> | null;
  diff: ScanDiff | null;
  /** One line: what changed, or why nothing was compared. */
  summary: string;
}

const brief = (scan: Scan) => ({
  id: scan.id,
  targets: scan.targets,
  argv: scan.argv,
  finishedAt: scan.finishedAt,
});

function sideOf(scan: Scan): ScanSide | null {
  return scan.report ? { scanId: scan.id, targets: scan.targets, report: scan.report } : null;
}

export class ScanHistory {
  readonly #core: Core;
  readonly #inventory: InventoryStore;
  readonly #scans: Pick<ScanService, 'visibleRow'>;

  /** `scans` decides which scans a caller may see (ScanService.visibleRow): the one rule for reads and diffs. */
  constructor(core: Core, inventory: InventoryStore, scans: Pick<ScanService, 'visibleRow'>) {
    this.#core = core;
    this.#inventory = inventory;
    this.#scans = scans;
  }

  /**
   * A scan has succeeded: what it saw goes into its token's inventory, and what changed since that token's previous
   * scan of the same targets is kept on the scan (Scan.changes). Returns the diff, or null when there was no base.
   */
  onSucceeded(row: JobRow, now: number): ScanDiff | null {
    const finished = this.#core.jobs.get(row.id) ?? row;
    const side = sideOf(toScan(finished));
    if (!side) return null;
    this.#inventory.record(row.token_id, row.id, now, observe(side));
    const baseRow = this.#core.jobs.previousOf(finished, row.token_id);
    const base = baseRow && sideOf(toScan(baseRow));
    if (!base) return null;
    const diff = diffScans(base, side);
    this.#core.jobs.update(row.id, { changes: JSON.stringify(scanChanges(diff)) });
    return diff;
  }

  /**
   * What changed between `against` (or, without it, the previous succeeded scan of the same targets that the caller
   * may see) and the finished scan `id`.
   */
  diff(principal: Principal, id: string, against?: string): Result<ScanDiffView> {
    const headRow = this.#scans.visibleRow(principal, id);
    if (!headRow) return fail(scanNotFound(id));
    const head = toScan(headRow);
    if (!TERMINAL.has(head.status) || !head.report) {
      return fail(
        scanError(
          'conflict',
          `Scan ${id} is ${head.status} and has no finished report to compare`,
          'Wait for the scan to finish, then ask for its diff.',
          { details: { scanId: id, status: head.status } },
        ),
      );
    }
    let baseRow: JobRow | undefined;
    if (against !== undefined) {
      baseRow = this.#scans.visibleRow(principal, against);
      if (!baseRow) return fail(scanNotFound(against));
      if (against === id) {
        return fail(
          scanError('validation_error', 'A scan cannot be compared with itself', 'Name an earlier scan in against.'),
        );
      }
    } else {
      baseRow = this.#core.jobs.previousOf(headRow, principal.role === 'admin' ? undefined : principal.tokenId);
    }
    if (!baseRow) {
      return ok({
        head: brief(head),
        base: null,
        diff: null,
        summary: 'No earlier finished scan of the same targets to compare with.',
      });
    }
    const base = toScan(baseRow);
    const [a, b] = [sideOf(base), sideOf(head)];
    if (!a || !b) {
      return fail(
        scanError(
          'conflict',
          `Scan ${base.id} is ${base.status} and has no finished report to compare`,
          'Name a scan that finished with a report in against.',
          { details: { scanId: base.id, status: base.status } },
        ),
      );
    }
    const diff = diffScans(a, b);
    return ok({ head: brief(head), base: brief(base), diff, summary: diffSummary(diff) });
  }

  inventory(
    principal: Principal,
    query: Omit<InventoryQuery, 'tokenId'>,
  ): {
    services: InventoryService[];
    nextCursor: string | null;
  } {
    return this.#inventory.services({
      ...query,
      ...(principal.role !== 'admin' && { tokenId: principal.tokenId }),
    });
  }

  inventoryHosts(
    principal: Principal,
    query: Omit<InventoryHostQuery, 'tokenId'>,
  ): { hosts: InventoryHost[]; nextCursor: string | null } {
    return this.#inventory.hosts({ ...query, ...(principal.role !== 'admin' && { tokenId: principal.tokenId }) });
  }

  /** When the next inventory row falls out of the retention, or null. */
  nextPruneAt(): number | null {
    const oldest = this.#inventory.oldestSeen();
    return oldest === null ? null : oldest + this.#core.settings.inventoryRetentionMs;
  }

  prune(now: number): number {
    const { inventoryRetentionMs, inventoryMaxRows } = this.#core.settings;
    return this.#inventory.prune(now - inventoryRetentionMs, inventoryMaxRows, 1000);
  }
}
