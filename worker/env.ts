import type { Coordinator } from './coordinator.do.ts';

/** Bindings of the scangate Worker (see wrangler.toml). */
export interface Env {
  COORDINATOR: DurableObjectNamespace<Coordinator>;
}

type ScangateEnv = Env;
declare global {
  // Types `env` from `cloudflare:test` and `cloudflare:workers` as this Worker's own bindings.
  namespace Cloudflare {
    interface Env extends ScangateEnv {}
  }
}
