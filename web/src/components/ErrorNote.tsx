import { useI18n } from '../i18n/context';
import { describeError } from '../util';

/** An error shown where it happened; the server's reason is kept as detail. */
export function ErrorNote({ error, onDismiss, testid }: { error: unknown; onDismiss?: () => void; testid?: string }) {
  const { t } = useI18n();
  if (!error) return null;
  const d = describeError(t, error);
  return (
    <div className="error" role="alert" data-testid={testid ?? 'error'} data-code={d.code ?? undefined}>
      <span>{d.text}</span>
      {d.detail && <small className="error-detail">{d.detail}</small>}
      {onDismiss && (
        <button type="button" className="link" onClick={onDismiss}>
          {t('common.dismiss')}
        </button>
      )}
    </div>
  );
}
