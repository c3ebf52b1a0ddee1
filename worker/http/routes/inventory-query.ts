import { z } from 'zod';
import { addressKey, cidrKeyRange } from '../../domain/inventory.ts';
import type { InventoryQuery as StoreQuery } from '../../storage/inventory.store.ts';

/** The inventory's filters, one schema for GET /v1/inventory, the dashboard's inventory page and the MCP tool. */
const VERSION = /^\d{1,6}(?:\.\d{1,6}){0,5}$/;

export const InventoryQuery = z.object({
  address: z
    .string()
    .max(64)
    .refine((a) => addressKey(a) !== null, 'an IP address')
    .optional(),
  cidr: z
    .string()
    .max(64)
    .refine((c) => cidrKeyRange(c) !== null, 'a CIDR network (10.0.0.0/24)')
    .optional(),
  port: z.coerce.number().int().min(0).max(65535).optional(),
  protocol: z.enum(['tcp', 'udp', 'sctp']).optional(),
  service: z
    .string()
    .regex(/^[a-z0-9._/-]{1,64}$/i, "nmap's service name (ssh, http, ms-wbt-server)")
    .optional(),
  product: z.string().min(1).max(128).optional(),
  versionBelow: z.string().regex(VERSION, 'a dotted version number (8.0)').optional(),
  state: z.enum(['open', 'any']).default('open'),
  firstSeenAfter: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z
    .string()
    .regex(/^[46][0-9a-f]{8,32}\|(?:tcp|udp|sctp)\|\d{1,5}$/, 'the nextCursor of the previous page')
    .optional(),
});

export type InventoryQueryInput = z.infer<typeof InventoryQuery>;

export function toStoreQuery(q: InventoryQueryInput): Omit<StoreQuery, 'tokenId'> {
  const { firstSeenAfter, ...rest } = q;
  return { ...rest, ...(firstSeenAfter && { firstSeenAfter: Date.parse(firstSeenAfter) }) };
}

/** Parses raw filters (a form's strings); the first problem worded for a person. */
export function inventoryQuery(
  raw: Record<string, string | undefined>,
): { ok: true; query: Omit<StoreQuery, 'tokenId'> } | { ok: false; error: string } {
  const parsed = InventoryQuery.safeParse(raw);
  if (parsed.success) return { ok: true, query: toStoreQuery(parsed.data) };
  const issue = parsed.error.issues[0];
  return { ok: false, error: `${issue?.path.join('.') || 'filter'}: ${issue?.message ?? 'malformed'}` };
}

/** GET /v1/inventory/hosts: hosts seen up (state=any: also those since looked for and not found). */
export const InventoryHostsQuery = InventoryQuery.pick({
  address: true,
  cidr: true,
  firstSeenAfter: true,
  limit: true,
}).extend({
  state: z.enum(['up', 'any']).default('up'),
  cursor: z
    .string()
    .regex(/^[46][0-9a-f]{8,32}$/, 'the nextCursor of the previous page')
    .optional(),
});
