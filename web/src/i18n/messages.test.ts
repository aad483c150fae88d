import { describe, expect, it } from 'vitest';
import { catalogues, en, ja, LANGS, pickLang, placeholders, translate, type MsgKey } from './messages';
import fs from 'node:fs';
import path from 'node:path';

describe('message catalogue', () => {
  const keys = Object.keys(en) as MsgKey[];

  it('has exactly the same keys in ja and en', () => {
    expect(Object.keys(ja).sort()).toEqual([...keys].sort());
  });

  it('has a non-empty string for every key in every language', () => {
    for (const lang of LANGS) {
      for (const k of keys) {
        const v = catalogues[lang][k];
        expect(typeof v, `${lang}:${k}`).toBe('string');
        expect(v.trim().length, `${lang}:${k}`).toBeGreaterThan(0);
      }
    }
  });

  it('uses the same placeholders in both languages', () => {
    for (const k of keys) expect(placeholders(ja[k]), k).toEqual(placeholders(en[k]));
  });

  it('is actually translated (most Japanese strings differ from English)', () => {
    const same = keys.filter((k) => ja[k] === en[k] && !/^[\w.#{}\s·-]*$/.test(en[k]));
    expect(same).toEqual([]);
  });

  it('every key used in the source exists in the catalogue', () => {
    const root = path.resolve(__dirname, '..');
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.tsx?$/.test(e.name) && !e.name.endsWith('.test.ts') && !p.includes(`${path.sep}i18n${path.sep}`)) files.push(p);
      }
    };
    walk(root);
    const used = new Set<string>();
    for (const f of files) {
      const src = fs.readFileSync(f, 'utf8');
      for (const m of src.matchAll(/\bt\(\s*'([\w.]+)'/g)) used.add(m[1]);
    }
    expect(used.size).toBeGreaterThan(20);
    const missing = [...used].filter((k) => !(k in en));
    expect(missing).toEqual([]);
  });
});

describe('translate', () => {
  it('fills placeholders', () => {
    expect(translate('en', 'ev.assigned', { name: 'Sato' })).toBe('Assigned to Sato');
    expect(translate('ja', 'ev.assigned', { name: '佐藤' })).toBe('担当者を 佐藤 に設定');
  });
  it('leaves unknown placeholders visible rather than inventing values', () => {
    expect(translate('en', 'ev.assigned')).toBe('Assigned to {name}');
  });
});

describe('pickLang', () => {
  it('prefers the remembered choice', () => {
    expect(pickLang('en', 'ja')).toBe('en');
    expect(pickLang('ja', 'en')).toBe('ja');
  });
  it('defaults to Japanese for a ja channel, English otherwise', () => {
    expect(pickLang(null, 'ja')).toBe('ja');
    expect(pickLang(null, 'en')).toBe('en');
    expect(pickLang('garbage', 'ja')).toBe('ja');
  });
  it('falls back to the browser language before any channel is known', () => {
    expect(pickLang(null, null, 'ja-JP')).toBe('ja');
    expect(pickLang(null, null, 'en-US')).toBe('en');
    expect(pickLang(null, undefined)).toBe('en');
  });
});
