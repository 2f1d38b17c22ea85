/** Small building blocks shared by the pages. */
import { useEffect, useRef, type AnchorHTMLAttributes, type InputHTMLAttributes, type MouseEvent, type ReactNode, type Ref } from "react";
import { navigate } from "./router";

/** An `<a href>` that navigates in-app on a plain click and behaves like a link otherwise. */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const click = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={click} {...rest} />;
}

/**
 * A page: sets the document title and moves keyboard focus to the heading, so that screen
 * readers announce the new page after an in-app navigation (unless a field takes focus).
 */
export function Page({ title, focusHeading = true, children }: { title: string; focusHeading?: boolean; children: ReactNode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · spa-auth example`;
    if (focusHeading) heading.current?.focus();
  }, [title, focusHeading]);
  return (
    <section className="page" aria-labelledby="page-title">
      <h1 id="page-title" ref={heading} tabIndex={-1}>
        {title}
      </h1>
      {children}
    </section>
  );
}

/**
 * A status line that always takes its space (no layout jump when a message appears) and is
 * announced by screen readers when it changes.
 */
export function Message({ kind, children }: { kind: "error" | "success"; children?: ReactNode }) {
  return (
    <p className={`message message-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </p>
  );
}

/**
 * A labelled input with an optional hint and its own error line. The error is tied to the
 * input (`aria-invalid`, `aria-describedby`), so a screen reader reads it with the field.
 */
export function Field({
  id,
  label,
  hint,
  error,
  ref,
  ...input
}: InputHTMLAttributes<HTMLInputElement> & {
  id: string;
  label: string;
  hint?: ReactNode;
  error?: string | undefined;
  ref?: Ref<HTMLInputElement>;
}) {
  const describedBy = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={id}
        ref={ref}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy || undefined}
        {...input}
      />
      {hint && (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="field-error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

/** The rule the server applies to new passwords, shown under every new-password field. */
export const PASSWORD_RULE = "At least 8 characters, not a common password, not your username.";
