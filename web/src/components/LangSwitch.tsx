import { useI18n } from '../i18n/context';
import { isLang } from '../i18n/messages';

export function LangSwitch() {
  const { lang, setLang, t } = useI18n();
  return (
    <label className="lang-switch">
      <span className="sr-only">{t('lang.label')}</span>
      <select
        data-testid="lang-switch"
        aria-label={t('lang.label')}
        value={lang}
        onChange={(e) => {
          if (isLang(e.target.value)) setLang(e.target.value);
        }}
      >
        <option value="ja" lang="ja">
          日本語
        </option>
        <option value="en" lang="en">
          English
        </option>
      </select>
    </label>
  );
}
