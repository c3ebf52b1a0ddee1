import type { DashboardData } from '../../objects/coordinator/dashboard-data.ts';

const encoder = new TextEncoder();

/**
 * The front page's live stream, on the Worker side: the Coordinator's feed sends the dashboard's data as JSON
 * (`event: data`), and each frame is rendered here into the `snapshot` frame the page's script applies (sections by
 * element id, and the edge's clock). Rendering lives with the views, so the Durable Object never renders HTML. If
 * the reader goes away the feed is cancelled, so the Coordinator drops its writer.
 */
export function renderedFeed(
  feed: ReadableStream<Uint8Array>,
  render: (data: DashboardData) => Promise<Record<string, string>>,
): ReadableStream<Uint8Array> {
  const reader = feed.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const end = buffered.indexOf('\n\n');
        if (end >= 0) {
          const frame = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = /^event: data\ndata: (.*)$/s.exec(frame)?.[1];
          if (data === undefined) continue; // comments and retry hints
          const parsed = JSON.parse(data) as DashboardData;
          const sections = await render(parsed);
          controller.enqueue(
            encoder.encode(`event: snapshot\ndata: ${JSON.stringify({ now: parsed.now, sections })}\n\n`),
          );
          return;
        }
        const { value, done } = await reader.read();
        if (done) return controller.close();
        buffered += value;
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
