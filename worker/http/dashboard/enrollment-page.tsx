/** @jsxImportSource hono/jsx */
import type { EnrolledRunner } from '../routes/enrollment.api.ts';
import { Header, Layout } from './views.tsx';

/**
 * The page that shows a new runner enrollment code with its install command (after "Add a runner" or a runner's
 * "Enrollment code"). The code is shown on this one response only (no-store, never in a URL): it is a one-time
 * secret for an hour.
 */
export function EnrollmentPage(props: { enrolled: EnrolledRunner; nonce: string; csrf: string; who: string }) {
  const { enrolled } = props;
  return (
    <Layout title={`Enroll runner ${enrolled.name}`} nonce={props.nonce} csrf={props.csrf}>
      <Header who={props.who} csrf={props.csrf} />
      <main>
        <h2>Enroll runner {enrolled.name}</h2>
        <p>
          On the lab host, as root (it needs only nmap and curl), run this command. It works once, until{' '}
          <time datetime={enrolled.enrollment.expiresAt}>
            {enrolled.enrollment.expiresAt.replace('T', ' ').slice(0, 19)} UTC
          </time>{' '}
          (one hour); the runner trades the code for its token, which stays on the host.
        </p>
        <pre tabindex={0} data-install-command>
          <code>{enrolled.enrollment.installCommand}</code>
        </pre>
        <p class="muted">
          Networks granted: {enrolled.networks.join(', ')}. This page is shown once; a new code (Runners, "Enrollment
          code") replaces an unused one.
        </p>
        <p>
          <a href="/dashboard">Back to the dashboard</a>
        </p>
      </main>
    </Layout>
  );
}
