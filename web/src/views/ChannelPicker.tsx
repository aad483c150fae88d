import type { Me } from '../api/types';
import { useI18n } from '../i18n/context';
import { LangSwitch } from '../components/LangSwitch';

export function ChannelPicker({ me, onPick, onLogout }: { me: Me; onPick: (id: number) => void; onLogout: () => void }) {
  const { t } = useI18n();
  return (
    <main className="center-page" id="main">
      <section className="card picker" aria-labelledby="picker-title">
        <div className="login-head">
          <h1 id="picker-title">{t('picker.title')}</h1>
          <LangSwitch />
        </div>
        {me.channels.length === 0 ? (
          <p>{t('picker.none')}</p>
        ) : (
          <>
            <p className="muted">{t('picker.help')}</p>
            <ul className="picker-list">
              {me.channels.map((c) => (
                <li key={c.id}>
                  <button type="button" className="picker-item" data-testid="channel-option" onClick={() => onPick(c.id)}>
                    <strong>{c.name}</strong>
                    <span className="muted">
                      {t(`role.${c.role}`)}
                      {c.operator_seat ? ` · ${t('picker.seat')}` : ''}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </>
        )}
        <p className="muted small">{t('nav.signedInAs', { name: me.staff.name })}</p>
        <button type="button" className="link" onClick={onLogout}>
          {t('nav.logout')}
        </button>
      </section>
    </main>
  );
}
