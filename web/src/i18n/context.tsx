import { createContext, useContext } from 'react';
import { translate, type Lang, type MsgKey } from './messages';

export type T = (key: MsgKey, vars?: Record<string, string | number>) => string;

export interface I18n {
  lang: Lang;
  setLang: (l: Lang) => void;
  t: T;
}

export const I18nContext = createContext<I18n>({
  lang: 'en',
  setLang: () => {},
  t: (k, v) => translate('en', k, v),
});

export function useI18n(): I18n {
  return useContext(I18nContext);
}
