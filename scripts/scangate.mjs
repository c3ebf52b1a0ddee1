#!/usr/bin/env node
// The `scangate` bin: the Node version gate (plain JS, so an old Node gets one line, not a stack trace), then the CLI.
import { fileURLToPath } from 'node:url';
import { run } from './node-gate.mjs';

await run(fileURLToPath(new URL('./scangate.ts', import.meta.url)));
