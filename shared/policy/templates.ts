/**
 * Scan templates, fixed, from the original tool. Each MUST pass validation under the default policy (a test
 * holds every one to that). The original's DISCOVERY defect (`-sn` with `--top-ports`) cannot recur: the
 * canonical argv never adds port options to `-sn`.
 */
export const TEMPLATES = {
  quick: '-T4 -Pn --top-ports 100',
  standard: '-T4 -Pn --top-ports 1000 -sV',
  thorough: '-T4 -Pn -p- -sV -sC',
  discovery: '-sn -T4',
  version: '-sV --version-intensity 5 -T4 -Pn --top-ports 1000',
  script: '-sC -T4 -Pn --top-ports 1000',
} as const;

export type TemplateName = keyof typeof TEMPLATES;

export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as TemplateName[];

/** What each template is for, in a line (for people and agents choosing one). */
export const TEMPLATE_DESCRIPTIONS: Readonly<Record<TemplateName, string>> = {
  quick: 'Top 100 TCP ports, fastest useful look',
  standard: 'Top 1000 TCP ports with service versions',
  thorough: 'All 65535 TCP ports with versions and default scripts (slow)',
  discovery: 'Which hosts are up, no port scan',
  version: 'Top 1000 ports, version detection at intensity 5',
  script: 'Top 1000 ports with the default safe scripts',
};

export function isTemplateName(value: unknown): value is TemplateName {
  return typeof value === 'string' && Object.hasOwn(TEMPLATES, value);
}
