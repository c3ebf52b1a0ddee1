#!/usr/bin/env node
// The `scangate-runner` bin: the Node version gate (plain JS, so an old Node gets one line, not a stack trace), then the runner.
import { fileURLToPath } from 'node:url';
import { run } from './node-gate.mjs';

await run(fileURLToPath(new URL('../runner/main.ts', import.meta.url)));
