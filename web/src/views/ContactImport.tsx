import { useState } from 'react';
import { ApiError } from '../api/client';
import type { ImportAction, ImportPlan, PlannedContact } from '../api/types';
import { useConsole } from '../console';
import { useI18n } from '../i18n/context';
import type { MsgKey } from '../i18n/messages';
import { ErrorNote } from '../components/ErrorNote';
import { href } from '../router';
import { IMPORT_ACCEPT, fileProblem, filterContacts, importContentType, planHasWork, savedNumbers, type ImportFilter } from '../contacts/importFile';

/** The picked file, read once: the preview and the import send the same bytes. */
interface Picked {
  name: string;
  type: string;
  data: Blob;
}

type Phase = 'pick' | 'previewing' | 'preview' | 'applying' | 'done';

/**
 * Import a staff member's own contacts (SPEC OUT-6): pick a vCard or CSV file, see what each
 * contact will do (join a customer, new lead, skipped and why), then import exactly that.
 */
export function ContactImport({ onClose, onApplied }: { onClose: () => void; onApplied: () => void }) {
  const { t } = useI18n();
  const c = useConsole();
  const [phase, setPhase] = useState<Phase>('pick');
  const [picked, setPicked] = useState<Picked | null>(null);
  const [plan, setPlan] = useState<ImportPlan | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [stale, setStale] = useState(false);
  const [filter, setFilter] = useState<ImportFilter>('all');

  const preview = async (p: Picked) => {
    setPhase('previewing');
    setError(null);
    try {
      const next = await c.api.importContacts(c.cid, p.data, p.type, { preview: true });
      setPlan(next);
      setFilter('all');
      setPhase('preview');
    } catch (e) {
      setPlan(null);
      setError(e);
      setPhase('pick');
    }
  };

  const pick = async (file: File) => {
    setStale(false);
    setPlan(null);
    const problem = fileProblem(file);
    if (problem) {
      setError(new ApiError(0, problem === 'tooLarge' ? 'import_too_large' : 'invalid_contacts_file', t(problem === 'tooLarge' ? 'import.tooLarge' : 'import.emptyFile')));
      return;
    }
    try {
      const p = { name: file.name, type: importContentType(file.name, file.type), data: new Blob([await file.arrayBuffer()]) };
      setPicked(p);
      await preview(p);
    } catch (e) {
      setError(e);
    }
  };

  const apply = async () => {
    if (!picked || !plan) return;
    setPhase('applying');
    setError(null);
    setStale(false);
    try {
      const done = await c.api.importContacts(c.cid, picked.data, picked.type, { preview: false, expect: plan.digest });
      setPlan(done);
      setPhase('done');
      onApplied();
    } catch (e) {
      if (e instanceof ApiError && e.code === 'stale') {
        setStale(true);
        await preview(picked);
      } else {
        setError(e);
        setPhase('preview');
      }
    }
  };

  const reset = () => {
    setPicked(null);
    setPlan(null);
    setError(null);
    setStale(false);
    setPhase('pick');
  };

  return (
    <div className="card import-card" data-testid="contact-import" data-phase={phase}>
      <h2>{t('import.title')}</h2>
      {(phase === 'pick' || phase === 'previewing') && (
        <>
          <p className="muted small">{t('import.help')}</p>
          <label className="field">
            <span>{t('import.file')}</span>
            <input
              type="file"
              accept={IMPORT_ACCEPT}
              data-testid="import-file"
              disabled={phase === 'previewing'}
              onChange={(e) => {
                const f = e.target.files?.[0];
                e.target.value = '';
                if (f) void pick(f);
              }}
            />
          </label>
          {phase === 'previewing' && picked && (
            <p className="muted" role="status">
              {t('import.reading', { file: picked.name })}
            </p>
          )}
        </>
      )}
      {stale && (
        <p className="notice" role="status" data-testid="import-stale">
          {t('import.stale')}
        </p>
      )}
      {plan && picked && phase !== 'pick' && phase !== 'previewing' && (
        <PlanView plan={plan} file={picked.name} filter={filter} onFilter={setFilter} />
      )}
      <ErrorNote error={error} testid="import-error" />
      <div className="row end">
        {phase === 'done' ? (
          <>
            <button type="button" className="ghost" data-testid="import-another" onClick={reset}>
              {t('import.another')}
            </button>
            <button type="button" className="primary" data-testid="import-close" onClick={onClose}>
              {t('import.close')}
            </button>
          </>
        ) : (
          <>
            <button type="button" className="ghost" data-testid="import-cancel" onClick={onClose} disabled={phase === 'applying'}>
              {t('common.cancel')}
            </button>
            {plan && (phase === 'preview' || phase === 'applying') && (
              <button type="button" className="primary" data-testid="import-apply" disabled={phase === 'applying' || !planHasWork(plan)} onClick={() => void apply()}>
                {phase === 'applying' ? t('import.applying') : t('import.apply')}
              </button>
            )}
          </>
        )}
      </div>
    </div>
  );
}

function PlanView({ plan, file, filter, onFilter }: { plan: ImportPlan; file: string; filter: ImportFilter; onFilter: (f: ImportFilter) => void }) {
  const { t } = useI18n();
  const n = plan.counts;
  const rows = filterContacts(plan, filter);
  return (
    <div data-testid="import-preview" data-applied={plan.applied ? 'yes' : 'no'} data-digest={plan.digest}>
      <p data-testid="import-counts" data-contacts={n.contacts} data-join={n.join} data-updated={n.updated} data-create={n.create} data-skip={n.skip}>
        <strong>{t('import.summary', { file, contacts: n.contacts })}</strong>
      </p>
      <ul className="plain import-counts">
        <li>
          <span className="badge import-join">{t('import.counts.join', { count: n.join })}</span>
          {n.updated > 0 && <span className="muted small"> ({t('import.counts.updated', { count: n.updated })})</span>}
        </li>
        <li>
          <span className="badge import-create">{t('import.counts.create', { count: n.create })}</span>
        </li>
        <li>
          <span className="badge import-skip">{t('import.counts.skip', { count: n.skip })}</span>
        </li>
      </ul>
      {plan.columns.length > 0 && (
        <p className="small" data-testid="import-columns">
          {t('import.columns', { columns: plan.columns.map((col) => `${col.header} (${t(`import.role.${col.role}` as MsgKey)})`).join(', ') })}
          {plan.ignored_columns.length > 0 && (
            <>
              {' · '}
              <span className="muted">{t('import.ignored', { columns: plan.ignored_columns.join(', ') })}</span>
            </>
          )}
        </p>
      )}
      {plan.encoding !== 'utf-8' && <p className="muted small">{t('import.encoding', { encoding: plan.encoding })}</p>}
      {plan.applied ? (
        <p className="ok" role="status" data-testid="import-result">
          {t('import.done', { create: n.create, updated: n.updated, join: n.join, skip: n.skip })}
        </p>
      ) : (
        !planHasWork(plan) && (
          <p className="notice" role="status" data-testid="import-nothing">
            {t('import.nothingToDo')}
          </p>
        )
      )}
      <label className="field inline">
        <span>{t('import.filter')}</span>
        <select data-testid="import-filter" value={filter} onChange={(e) => onFilter(e.target.value as ImportFilter)}>
          <option value="all">{t('import.filter.all')}</option>
          <option value="join">{t('import.counts.join', { count: n.join })}</option>
          <option value="create">{t('import.counts.create', { count: n.create })}</option>
          <option value="skip">{t('import.counts.skip', { count: n.skip })}</option>
        </select>
      </label>
      <div className="import-table-wrap">
        <table className="import-table">
          <thead>
            <tr>
              <th scope="col">{t('import.col.index')}</th>
              <th scope="col">{t('import.col.name')}</th>
              <th scope="col">{t('import.col.numbers')}</th>
              <th scope="col">{t('import.col.action')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <PlanRow key={row.index} row={row} applied={plan.applied} />
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

const ACTION_CLASS: Record<ImportAction, string> = { join: 'import-join', create: 'import-create', skip: 'import-skip' };

function PlanRow({ row, applied }: { row: PlannedContact; applied: boolean }) {
  const { t } = useI18n();
  const saved = savedNumbers(row);
  return (
    <tr data-testid="import-row" data-index={row.index} data-action={row.action} data-customer-id={row.customer?.id}>
      <td className="muted">{row.index}</td>
      <td>{row.name || <span className="muted">{t('customer.unnamed')}</span>}</td>
      <td>
        <ul className="plain">
          {row.numbers.map((num) => (
            <li key={num.number} data-testid="import-number" data-number={num.number} data-known={num.known ? 'yes' : 'no'}>
              <span className="mono">{num.display}</span>{' '}
              <span className={`badge ${num.known ? 'import-known' : 'import-new'}`}>{num.known ? t('import.known') : t('import.new')}</span>
              {num.mobile && <span className="muted small"> {t('import.mobile')}</span>}
            </li>
          ))}
          {row.problems.map((p, i) => (
            <li key={`p${i}`} className="muted small" data-testid="import-problem" data-issue={p.issue}>
              <span className="mono">{p.input}</span> — {t(`import.issue.${p.issue}` as MsgKey)}
              {p.detail && <> ({p.detail})</>}
            </li>
          ))}
        </ul>
      </td>
      <td data-testid="import-action">
        <span className={`badge ${ACTION_CLASS[row.action]}`}>
          {row.action === 'join' && t('import.action.join', { name: row.customer?.name || t('customer.unnamed') })}
          {row.action === 'create' && t(applied ? 'import.action.created' : 'import.action.create')}
          {row.action === 'skip' && t('import.action.skip')}
        </span>
        {row.customer?.blocked && <span className="badge blocked">{t('customer.blocked')}</span>}
        {row.action === 'join' && (
          <span className="muted small">
            {' '}
            {[row.sets_name ? t('import.setsName') : null, saved.length > 0 ? t('import.addsNumbers', { count: saved.length }) : null].filter(Boolean).join(', ') || t('import.nothingNew')}
          </span>
        )}
        {row.action === 'skip' && row.skip_reason && <div className="small">{t(`import.skip.${row.skip_reason}` as MsgKey)}</div>}
        {row.customer && (applied || row.action === 'join') && (
          <div className="small">
            <a href={href({ name: 'customer', id: row.customer.id })} data-testid="import-customer-link">
              {t('customer.openPage')}
            </a>
          </div>
        )}
      </td>
    </tr>
  );
}
