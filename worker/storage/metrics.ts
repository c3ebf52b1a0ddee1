/**
 * Metrics kept as counters in SQLite (they survive restarts) and rendered as Prometheus text exposition
 * format 0.0.4. Gauges (breaker state, runners connected, queue depth) are computed at scrape time.
 */
export const DURATION_BUCKETS_SEC = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600] as const;

export class Counters {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  add(name: string, labels: Record<string, string>, by = 1): void {
    this.#sql.exec(
      'INSERT INTO counters (name, labels, value) VALUES (?, ?, ?) ON CONFLICT(name, labels) DO UPDATE SET value = value + excluded.value',
      name,
      labelText(labels),
      by,
    );
  }

  observeDuration(seconds: number): void {
    for (const le of DURATION_BUCKETS_SEC)
      this.add('scangate_scan_duration_seconds_bucket', { le: String(le) }, seconds <= le ? 1 : 0);
    this.add('scangate_scan_duration_seconds_bucket', { le: '+Inf' });
    this.add('scangate_scan_duration_seconds_sum', {}, seconds);
    this.add('scangate_scan_duration_seconds_count', {});
  }

  all(): Array<{ name: string; labels: string; value: number }> {
    return this.#sql
      .exec<{ name: string; labels: string; value: number }>(
        'SELECT name, labels, value FROM counters ORDER BY name, labels',
      )
      .toArray();
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

interface Family {
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
}

export const FAMILIES: Record<string, Family> = {
  scangate_scans_total: { help: 'Scans that ended, by outcome.', type: 'counter' },
  scangate_scan_duration_seconds: { help: 'Scan duration, from dispatch to result.', type: 'histogram' },
  scangate_rejections_total: { help: 'Requests refused before a scan ran, by reason.', type: 'counter' },
  scangate_breaker_transitions_total: {
    help: 'Circuit breaker state changes, by runner and new state.',
    type: 'counter',
  },
  scangate_breaker_state: { help: 'Circuit breaker state per runner (1 for the current state).', type: 'gauge' },
  scangate_runners_connected: { help: 'Runners with a live link.', type: 'gauge' },
  scangate_queue_depth: { help: 'Scans waiting for a free runner.', type: 'gauge' },
  scangate_relayed_bytes_total: {
    help: "Bytes of scan output (and nmap's XML) relayed from runners.",
    type: 'counter',
  },
  scangate_output_truncated_total: {
    help: "Output frames the edge cut at the policy cap (xml: at nmap's XML cap), by stream.",
    type: 'counter',
  },
  scangate_xml_refused_total: {
    help: "nmap XML documents the edge refused: not nmap's, or not matching the result the runner sent with them.",
    type: 'counter',
  },
  scangate_output_frames_refused_total: {
    help: 'Output frames refused by the edge (for a job that had ended).',
    type: 'counter',
  },
  scangate_scans_pruned_total: { help: 'Ended scans pruned past JOB_RETENTION_DAYS.', type: 'counter' },
};

/** `{a="b"}` with `pool="…"` put first (every pool's samples share one exposition). */
export function withPool(labels: string, pool: string): string {
  const label = `pool="${escapeLabel(pool)}"`;
  return labels ? `{${label},${labels.slice(1)}` : `{${label}}`;
}

/** Renders counters and gauges, grouped by family with HELP and TYPE lines. */
export function renderPrometheus(samples: Array<{ name: string; labels: string; value: number }>): string {
  const byFamily = new Map<string, string[]>();
  for (const s of samples) {
    const family = s.name.replace(/_(bucket|sum|count)$/, '');
    const key = FAMILIES[family] ? family : s.name;
    const lines = byFamily.get(key) ?? [];
    lines.push(`${s.name}${s.labels} ${Number.isInteger(s.value) ? s.value : s.value.toFixed(3)}`);
    byFamily.set(key, lines);
  }
  const out: string[] = [];
  for (const [name, family] of Object.entries(FAMILIES)) {
    out.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`);
    out.push(...(byFamily.get(name) ?? []));
  }
  return `${out.join('\n')}\n`;
}
