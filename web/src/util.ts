import { ApiError } from './api/client';
import type { T } from './i18n/context';
import type { MsgKey } from './i18n/messages';
import type { Lang } from './i18n/messages';

export const TOKEN_KEY = 'denwa.token';
export const LANG_KEY = 'denwa.lang';
export const CHANNEL_KEY = 'denwa.channel';

export function storageGet(k: string): string | null {
  try {
    return localStorage.getItem(k);
  } catch {
    return null;
  }
}
export function storageSet(k: string, v: string | null): void {
  try {
    if (v === null) localStorage.removeItem(k);
    else localStorage.setItem(k, v);
  } catch {
    /* private mode: nothing to remember */
  }
}

const fmtCache = new Map<string, Intl.DateTimeFormat>();
function formatter(lang: Lang, tz: string | undefined, withDate: boolean): Intl.DateTimeFormat {
  const key = `${lang}|${tz ?? ''}|${withDate}`;
  let f = fmtCache.get(key);
  if (!f) {
    const opts: Intl.DateTimeFormatOptions = withDate
      ? { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }
      : { hour: '2-digit', minute: '2-digit' };
    const loc = lang === 'ja' ? 'ja-JP' : 'en-GB';
    try {
      f = new Intl.DateTimeFormat(loc, { ...opts, timeZone: tz });
    } catch {
      f = new Intl.DateTimeFormat(loc, opts);
    }
    fmtCache.set(key, f);
  }
  return f;
}

/** Formats an RFC 3339 time in the channel's time zone. */
export function fmtTime(iso: string | null | undefined, lang: Lang, tz?: string): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return formatter(lang, tz, true).format(d);
}

const KNOWN_CODES = new Set([
  'network', 'unauthorized', 'forbidden', 'not_found', 'conflict', 'invalid_phone_number', 'invalid_field',
  'phone_chat_internal_only', 'invalid_contacts_file', 'too_many_contacts', 'import_too_large', 'stale',
  'unsupported_media_type',
]);

/** A user-facing sentence for an error, plus the server's own message as detail. */
export function describeError(t: T, e: unknown): { text: string; detail: string | null; code: string | null } {
  if (e instanceof ApiError) {
    const text = KNOWN_CODES.has(e.code) ? t(`err.${e.code}` as MsgKey) : t('err.generic');
    const detail = e.message && e.message !== e.code ? e.message : null;
    return { text, detail, code: e.code };
  }
  return { text: t('err.generic'), detail: e instanceof Error ? e.message : String(e), code: null };
}

/** A value for <input type="datetime-local"> `minutes` from now, in the browser's time zone. */
export function localInputValue(minutesFromNow: number, now = new Date()): string {
  const d = new Date(now.getTime() + minutesFromNow * 60_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
