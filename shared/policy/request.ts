import { z } from 'zod';
import { MAX_ARGS_LENGTH, MAX_TOKENS } from './args.ts';
import { MAX_SCRIPT_VALUE } from './scripts.ts';

/**
 * The bounds of a scan request's fields, shared by every surface that takes one (REST and MCP), so nothing
 * larger than validation could ever accept reaches the policy, the audit log or storage. Validation itself
 * (validateScanRequest) then judges the content.
 */
/** Longest target item: a hostname is at most 253 characters; anything longer is refused before it is stored. */
export const MAX_TARGET_LENGTH = 256;
export const MAX_TARGET_ITEMS = 256;

export const ScanTargetSchema = z.union([
  z.string().max(MAX_TARGET_LENGTH),
  z.array(z.string().max(MAX_TARGET_LENGTH)).min(1).max(MAX_TARGET_ITEMS),
]);

/** A string, or an argv array whose items may hold a long --script list. */
export const ScanArgsSchema = z.union([
  z.string().max(MAX_ARGS_LENGTH),
  z.array(z.string().max(MAX_SCRIPT_VALUE)).max(MAX_TOKENS),
]);
