import { useState, type FormEvent } from 'react';
import { useConsole } from '../console';
import { useI18n } from '../i18n/context';

/** Chips with a remove button each, plus an input that suggests the channel's tags. */
export function TagsEditor({ tags, disabled, onChange }: { tags: string[]; disabled: boolean; onChange: (tags: string[]) => void }) {
  const { t } = useI18n();
  const c = useConsole();
  const [draft, setDraft] = useState('');
  const add = (e: FormEvent) => {
    e.preventDefault();
    const name = draft.trim();
    if (!name) return;
    setDraft('');
    if (!tags.includes(name)) onChange([...tags, name]);
  };
  return (
    <div className="tags-editor" data-testid="tags-editor">
      <span className="field-label" id="tags-title">
        {t('tags.title')}
      </span>
      <ul className="chips" aria-labelledby="tags-title" data-testid="chat-tags">
        {tags.length === 0 && <li className="muted small">{t('tags.none')}</li>}
        {tags.map((tag) => (
          <li key={tag} className="tag" data-testid="chat-tag">
            <span>{tag}</span>
            <button
              type="button"
              className="chip-x"
              aria-label={t('tags.remove', { tag })}
              disabled={disabled}
              onClick={() => onChange(tags.filter((x) => x !== tag))}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
      <form className="inline-form" onSubmit={add}>
        <input
          aria-label={t('tags.input')}
          placeholder={t('tags.input')}
          list="channel-tags"
          data-testid="tag-input"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
        />
        <datalist id="channel-tags">
          {c.tags.filter((x) => !tags.includes(x.name)).map((x) => (
            <option key={x.name} value={x.name} />
          ))}
        </datalist>
        <button type="submit" data-testid="tag-add" disabled={disabled || !draft.trim()}>
          {t('tags.add')}
        </button>
      </form>
    </div>
  );
}
