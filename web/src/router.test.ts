import { describe, expect, it } from 'vitest';
import { href, parseRoute } from './router';

describe('routes', () => {
  it('parses and prints every route', () => {
    for (const h of ['#/inbox', '#/inbox/12', '#/contacts', '#/contacts/5', '#/settings', '#/channels']) {
      expect(href(parseRoute(h))).toBe(h);
    }
  });
  it('falls back to the inbox', () => {
    expect(parseRoute('')).toEqual({ name: 'inbox', chatId: null });
    expect(parseRoute('#/nope')).toEqual({ name: 'inbox', chatId: null });
    expect(parseRoute('#/inbox/abc')).toEqual({ name: 'inbox', chatId: null });
  });
});
