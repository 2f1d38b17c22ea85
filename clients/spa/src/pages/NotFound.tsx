import { Link, Page } from "../ui";

export function NotFoundPage() {
  return (
    <Page title="Page not found">
      <p>
        There is nothing here. <Link href="/">Go home</Link>.
      </p>
    </Page>
  );
}
