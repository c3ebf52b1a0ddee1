/**
 * shared/policy: the one place that decides what scangate may run. Pure: no Node or Workers APIs, no I/O.
 * The edge validates every request with it and the runner validates every dispatched argv again.
 */
export { revalidateArgv, validateScanRequest, type ScanRequestInput, type ValidationResult } from './validate.ts';
export {
  DEFAULT_POLICY,
  POLICY_RANGES,
  PolicyInputSchema,
  describeClamp,
  resolvePolicy,
  type Policy,
  type PolicyClamp,
  type PolicyInput,
  type ResolvePolicyResult,
} from './policy.ts';
export { TEMPLATES, TEMPLATE_DESCRIPTIONS, TEMPLATE_NAMES, isTemplateName, type TemplateName } from './templates.ts';
export {
  canonicalNetwork,
  compileTargetRules,
  networkWithin,
  parseTarget,
  parseTargets,
  type Target,
} from './targets.ts';
export { OPTIONS, FORBIDDEN, type OptionSpec } from './options.ts';
export {
  CATALOG,
  CATALOG_RELEASES,
  catalogView,
  categoriesAt,
  classAllowed,
  compareVersions,
  type CatalogEntryView,
  type CatalogScript,
  type ScriptClass,
} from './catalog/index.ts';
export { GLOBAL_ARGS } from './script-args.ts';
export type { ScanError } from '../errors/index.ts';
