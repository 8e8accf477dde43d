export function NotFound({ what = "page" }: { what?: string }) {
  return (
    <section class="empty" data-testid="not-found">
      <h1>Not found</h1>
      <p>This {what} does not exist, or is not yours to see.</p>
      <a href="/">Back to the home page</a>
    </section>
  );
}
