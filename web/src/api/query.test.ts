import { describe, expect, it } from 'vitest';
import { chatQuery, customerQuery, defaultFilter } from './query';

const parse = (s: string) => Object.fromEntries(new URLSearchParams(s));

describe('chatQuery', () => {
  it('default filter asks for opened chats only', () => {
    expect(chatQuery(defaultFilter)).toBe('state=opened');
  });

  it('maps every filter to its documented parameter', () => {
    const qs = chatQuery({
      state: 'snoozed', assignee: 12, team: 3, tag: ' vip ', medium: 'phone', phoneIntegration: true, q: ' refund ', customer: 44,
    });
    expect(parse(qs)).toEqual({
      state: 'snoozed', assignee: '12', team: '3', tag: 'vip', medium: 'phone', integration: 'phone', q: 'refund', customer: '44',
    });
  });

  it('uses me / none for the assignee shortcuts', () => {
    expect(parse(chatQuery({ assignee: 'me' }))).toEqual({ assignee: 'me' });
    expect(parse(chatQuery({ assignee: 'none' }))).toEqual({ assignee: 'none' });
  });

  it('omits unset values, including team 0-less empty and blank keyword', () => {
    expect(chatQuery({ ...defaultFilter, state: '', q: '   ', tag: '' })).toBe('');
  });

  it('keeps team id 0 (a real id) but drops empty string', () => {
    expect(parse(chatQuery({ team: 0 }))).toEqual({ team: '0' });
    expect(chatQuery({ team: '' })).toBe('');
  });

  it('encodes keywords and tags', () => {
    const qs = chatQuery({ q: '返金 & 請求', tag: 'a/b' });
    expect(qs).toContain('q=%E8%BF%94%E9%87%91+%26+%E8%AB%8B%E6%B1%82');
    expect(parse(qs)).toEqual({ q: '返金 & 請求', tag: 'a/b' });
  });

  it('adds paging', () => {
    expect(chatQuery({}, { limit: 20, before: 5 })).toBe('limit=20&before=5');
    expect(chatQuery({}, { before: null })).toBe('');
    expect(chatQuery({}, { before: 'MjAyNi0xMS0yNFQwMDowMDowMFo6NQ' })).toBe('before=MjAyNi0xMS0yNFQwMDowMDowMFo6NQ');
  });
});

describe('customerQuery', () => {
  it('passes any spelling of a number through as q', () => {
    expect(parse(customerQuery('03-1234-5678'))).toEqual({ q: '03-1234-5678' });
    expect(parse(customerQuery('+81 3 1234 5678', 10))).toEqual({ q: '+81 3 1234 5678', limit: '10' });
    expect(customerQuery('  ')).toBe('');
  });
});
