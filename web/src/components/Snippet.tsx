import type { SnippetPart } from '../api/types';

/**
 * A matching line from the inbox search: the server sends it as parts, and the parts that
 * matched are wrapped in <mark>. Every part is rendered as text (React escapes it), never
 * as HTML, so a customer's message cannot inject markup.
 */
export function Snippet({ parts }: { parts: SnippetPart[] }) {
  return (
    <>
      {parts.map((p, i) =>
        p.mark ? (
          <mark key={i} data-testid="search-mark">
            {p.text}
          </mark>
        ) : (
          <span key={i}>{p.text}</span>
        ),
      )}
    </>
  );
}
