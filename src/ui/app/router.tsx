import type { AnchorHTMLAttributes, ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";

// Path routes (deep links that paste into a chat): the History API, no reload, and links that still work with a
// middle click or "copy link".

const subscribers = new Set<() => void>();
window.addEventListener("popstate", () => subscribers.forEach((s) => s()));

export function navigate(href: string): void {
  history.pushState(null, "", href);
  subscribers.forEach((s) => s());
  window.scrollTo(0, 0);
}

/** Changes the URL in place (a filter typed), without a new history entry. */
export function replace(href: string): void {
  history.replaceState(null, "", href);
  subscribers.forEach((s) => s());
}

/** The current location (path, query and hash), re-rendering on navigation. */
export function useLocation(): URL {
  const [, setTick] = useState(0);
  useEffect(() => {
    const update = () => setTick((t) => t + 1);
    subscribers.add(update);
    return () => void subscribers.delete(update);
  }, []);
  return new URL(location.href);
}

/** An in-app link: plain clicks navigate without a reload; modified clicks do what the browser does. */
export function Link(props: { href: string; children: ComponentChildren } & AnchorHTMLAttributes) {
  const { href, children, ...rest } = props;
  const onClick = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}
