/**
 * CPU profiles of the Worker and its Durable Objects under wrangler dev, through the DevTools protocol on the
 * inspector port (used by the benchmarks when BENCH_PROFILE=1). Prints the functions with the most self time.
 */
import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export class CpuProfiler {
  #ws: WebSocket | undefined;
  #id = 0;
  #pending = new Map<number, (result: unknown) => void>();

  async start(inspectorPort: number): Promise<void> {
    const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as Array<{
      webSocketDebuggerUrl: string;
    }>;
    this.#ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => this.#ws!.once('open', resolve).once('error', reject));
    this.#ws.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { id?: number; result?: unknown };
      if (message.id !== undefined) this.#pending.get(message.id)?.(message.result);
    });
    await this.#call('Profiler.enable');
    await this.#call('Profiler.setSamplingInterval', { interval: 200 });
    await this.#call('Profiler.start');
  }

  /** Stops, saves the .cpuprofile (open it in Chrome DevTools) and returns the top functions by self time. */
  async stop(path: string, top = 15): Promise<string[]> {
    const { profile } = (await this.#call('Profiler.stop')) as {
      profile: { nodes: ProfileNode[]; samples: number[]; startTime: number; endTime: number };
    };
    this.#ws?.close();
    writeFileSync(path, JSON.stringify(profile));
    const total = profile.samples.length;
    const byFunction = new Map<string, number>();
    for (const node of profile.nodes) {
      const { functionName, url, lineNumber } = node.callFrame;
      const key = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + (node.hitCount ?? 0));
    }
    return [...byFunction.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, hits]) => `${((100 * hits) / total).toFixed(1).padStart(5)}%  ${key}`);
  }

  #call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#ws!.send(JSON.stringify({ id, method, params }));
    });
  }
}
