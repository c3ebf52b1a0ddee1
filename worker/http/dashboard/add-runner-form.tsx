/** @jsxImportSource hono/jsx */

/**
 * The dashboard's "Add a runner" form: a name and networks, answered with the new runner's enrollment page
 * (enrollment-page.tsx). It sits outside the live sections, so a live update never wipes what an admin is typing.
 */
export function AddRunnerForm({ csrf }: { csrf: string }) {
  return (
    <form method="post" action="/dashboard/actions" class="add-runner">
      <input type="hidden" name="action" value="runner-create" />
      <input type="hidden" name="csrf" value={csrf} />
      <label>
        Name <input name="target" required maxlength={64} pattern="[A-Za-z0-9][A-Za-z0-9 ._\-]*" autocomplete="off" />
      </label>{' '}
      <label>
        Networks <input name="value" required maxlength={1024} placeholder="10.20.0.0/16, 10.21.0.0/16" />
      </label>{' '}
      <button type="submit">Create and get an install command</button>
    </form>
  );
}
