import { useCallback, useEffect, useMemo, useState } from 'react';
import { useConsole, useEvents } from '../console';
import { useI18n } from '../i18n/context';
import { TOKEN_KEY, storageGet } from '../util';
import {
  bars, dashboardQuery, daysBefore, duration, heat, movesNumbers, pct, sortStaff, today,
  type Dashboard as Data, type Period, type StaffKey,
} from '../stats/dashboard';

const WEEKDAYS_EN = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const WEEKDAYS_JA = ['月', '火', '水', '木', '金', '土', '日'];

/** Statistics (SPEC ST-1..ST-4): cards, a chart per period, hour × weekday, per staff; exports. */
export function Dashboard() {
  const { api, cid, timeZone, teams, members, staffName } = useConsole();
  const { lang } = useI18n();
  const ja = lang === 'ja';
  const L = (en: string, jp: string) => (ja ? jp : en);
  const end = today(timeZone);
  const [to, setTo] = useState(end);
  const [from, setFrom] = useState(daysBefore(end, 29));
  const [period, setPeriod] = useState<Period>('day');
  const [team, setTeam] = useState<number | null>(null);
  const [staff, setStaff] = useState<number | null>(null);
  const [data, setData] = useState<Data | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sort, setSort] = useState<{ key: StaffKey; desc: boolean }>({ key: 'total', desc: true });

  const query = dashboardQuery({ from, to, period, team, staff });
  const load = useCallback(() => {
    api.request<Data>('GET', `/api/v1/channels/${cid}/stats/dashboard?${query}`).then(
      (d) => { setData(d); setError(null); },
      (e: Error) => setError(e.message),
    );
  }, [api, cid, query]);
  useEffect(load, [load]);
  // Live: a call that ends (or a chat closed after its call: wrap-up) moves the numbers.
  useEvents((e) => { if (movesNumbers(e.kind)) load(); });

  const download = async (ext: 'csv' | 'xlsx') => {
    const tok = storageGet(TOKEN_KEY);
    const res = await fetch(`/api/v1/channels/${cid}/stats/calls.${ext}?from=${from}&to=${to}`, {
      headers: tok ? { authorization: `Bearer ${tok}` } : {},
    });
    if (!res.ok) {
      setError(((await res.json().catch(() => null)) as { message?: string } | null)?.message ?? `HTTP ${res.status}`);
      return;
    }
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = `calls-${from}-${to}.${ext}`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };

  const name = useCallback((id: number) => staffName(id) ?? `#${id}`, [staffName]);
  const rows = useMemo(() => (data ? sortStaff(data.staff, sort.key, sort.desc, name) : []), [data, sort, name]);
  const m = data?.totals;
  const W = 720;
  const H = 160;
  const chart = data ? bars(data.series, W, H) : [];
  const hmMax = data ? Math.max(0, ...data.heatmap.flat()) : 0;
  const head = (key: StaffKey, label: string) => (
    <th scope="col" aria-sort={sort.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
      <button type="button" className="link" onClick={() => setSort((s) => ({ key, desc: s.key === key ? !s.desc : true }))}>
        {label}
      </button>
    </th>
  );
  const cards: [string, string, string][] = m
    ? [
        ['total', L('Total calls', '総コール数'), String(m.total)],
        ['outbound', L('Outbound', '発信'), String(m.outbound)],
        ['answered', L('Answered', '応答'), String(m.answered)],
        ['missed', L('Missed', '不在'), String(m.missed)],
        ['inbound_completion', L('Inbound completion', '着信完了率'), pct(m.inbound_completion_rate)],
        ['outbound_completion', L('Outbound completion', '発信完了率'), pct(m.outbound_completion_rate)],
        ['avg_call_duration', L('Avg call duration', '平均通話時間'), duration(m.avg_call_duration_ms)],
        ['avg_first_response', L('Avg first response', '平均初回応答時間'), duration(m.avg_first_response_ms)],
        ['avg_wrap_up', L('Avg wrap-up', '平均後処理時間'), duration(m.avg_wrap_up_ms)],
        ['service_level', L('Service level (20 s)', 'サービスレベル (20秒)'), pct(m.service_level)],
        ['avg_speed_of_answer', L('Avg speed of answer', '平均応答速度'), duration(m.avg_speed_of_answer_ms)],
        ['abandonment', L('Abandonment', '放棄率'), pct(m.abandonment_rate)],
      ]
    : [];

  return (
    <section className="dashboard" aria-labelledby="stats-title" data-testid="dashboard">
      <h1 id="stats-title">{L('Statistics', '統計')}</h1>
      <form className="stats-filters" onSubmit={(e) => e.preventDefault()}>
        <label>{L('From', '開始')} <input type="date" value={from} onChange={(e) => setFrom(e.target.value)} /></label>
        <label>{L('To', '終了')} <input type="date" value={to} onChange={(e) => setTo(e.target.value)} /></label>
        <label>{L('Period', '期間')}{' '}
          <select value={period} onChange={(e) => setPeriod(e.target.value as Period)}>
            <option value="day">{L('Day', '日')}</option>
            <option value="week">{L('Week', '週')}</option>
            <option value="month">{L('Month', '月')}</option>
          </select>
        </label>
        <label>{L('Team', 'チーム')}{' '}
          <select value={team ?? ''} onChange={(e) => setTeam(e.target.value ? Number(e.target.value) : null)}>
            <option value="">{L('All', 'すべて')}</option>
            {teams.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
          </select>
        </label>
        <label>{L('Staff', '担当者')}{' '}
          <select value={staff ?? ''} onChange={(e) => setStaff(e.target.value ? Number(e.target.value) : null)}>
            <option value="">{L('All', 'すべて')}</option>
            {members.map((x) => <option key={x.staff.id} value={x.staff.id}>{x.staff.name}</option>)}
          </select>
        </label>
        <button type="button" data-testid="download-csv" onClick={() => void download('csv')}>{L('Download CSV', 'CSVダウンロード')}</button>
        <button type="button" data-testid="download-xlsx" onClick={() => void download('xlsx')}>{L('Download Excel', 'Excelダウンロード')}</button>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
      {data && (
        <>
          <p className="small">{data.from} – {data.to} ({data.time_zone})</p>
          <ul className="stats-cards">
            {cards.map(([key, label, value]) => (
              <li key={key} className="card"><span className="small">{label}</span><strong data-testid={`card-${key}`}>{value}</strong></li>
            ))}
          </ul>
          <p className="small" data-testid="missed-by-reason">
            {L('Missed by reason', '不在理由')}: notInOperation {m?.missed_by_reason.notInOperation} · noOperator {m?.missed_by_reason.noOperator} · userLeft {m?.missed_by_reason.userLeft}
          </p>
          <h2>{L('Calls per period', '期間別コール数')}</h2>
          <svg viewBox={`0 0 ${W} ${H + 20}`} className="stats-chart" role="img" aria-label={L('Calls per period', '期間別コール数')}>
            {chart.map((b) => (
              <g key={b.label}>
                <title>{`${b.label}: ${b.total}`}</title>
                <rect x={b.x} width={b.width} y={H - b.answered} height={b.answered} fill="#2f6fba" />
                <rect x={b.x} width={b.width} y={H - b.answered - b.missed} height={b.missed} fill="#d9534f" />
                <rect x={b.x} width={b.width} y={H - b.answered - b.missed - b.other} height={b.other} fill="#9aa5b1" />
              </g>
            ))}
            {chart.length > 0 && <text x={0} y={H + 15} fontSize="11">{chart[0].label}</text>}
            {chart.length > 1 && <text x={W} y={H + 15} fontSize="11" textAnchor="end">{chart[chart.length - 1].label}</text>}
          </svg>
          <h2>{L('Traffic by hour × weekday', '時間帯 × 曜日別')}</h2>
          <table className="stats-heatmap">
            <thead><tr><th />{Array.from({ length: 24 }, (_, h) => <th key={h} scope="col">{h}</th>)}</tr></thead>
            <tbody>
              {data.heatmap.map((row, d) => (
                <tr key={d}>
                  <th scope="row">{(ja ? WEEKDAYS_JA : WEEKDAYS_EN)[d]}</th>
                  {row.map((v, h) => <td key={h} title={String(v)} style={{ background: heat(v, hmMax) }}>{v || ''}</td>)}
                </tr>
              ))}
            </tbody>
          </table>
          <h2>{L('Per staff', '担当者別')}</h2>
          <table className="stats-staff" data-testid="stats-staff">
            <thead>
              <tr>
                {head('name', L('Staff', '担当者'))}
                {head('total', L('Total', '総数'))}
                {head('outbound', L('Outbound', '発信'))}
                {head('answered', L('Answered', '応答'))}
                {head('call_duration_ms', L('Call duration', '通話時間'))}
                {head('total_call_duration_ms', L('Total (ringing + talk)', '合計 (呼出+通話)'))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.staff_id}>
                  <td>{name(r.staff_id)}</td><td>{r.total}</td><td>{r.outbound}</td><td>{r.answered}</td>
                  <td>{duration(r.call_duration_ms)}</td><td>{duration(r.total_call_duration_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
