import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Snippet } from './Snippet';

const render = (parts: { text: string; mark: boolean }[]) => renderToStaticMarkup(createElement(Snippet, { parts }));

describe('Snippet', () => {
  it('marks the matching parts and keeps the rest as plain text', () => {
    expect(render([
      { text: '…', mark: false },
      { text: '請求書', mark: true },
      { text: 'の再発行をお願いします', mark: false },
    ])).toBe('<span>…</span><mark data-testid="search-mark">請求書</mark><span>の再発行をお願いします</span>');
  });

  it('renders markup inside a line as text, never as HTML', () => {
    const html = render([
      { text: '<img src=x onerror=alert(1)> ', mark: false },
      { text: '<b>refund</b>', mark: true },
    ]);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>');
    expect(html).toBe(
      '<span>&lt;img src=x onerror=alert(1)&gt; </span><mark data-testid="search-mark">&lt;b&gt;refund&lt;/b&gt;</mark>',
    );
  });
});
