// Pure helpers of the statistics dashboard (SPEC ST-1..ST-4): formatting, sorting, the
// chart's bars and the heatmap's colours. Metric definitions live in the server
// (crates/core/src/stats.rs, docs/statistics.md); the console only shows them.

export interface MissedByReason {
  notInOperation: number;
  noOperator: number;
  userLeft: number;
  unspecified: number;
}

export interface Metrics {
  total: number;
  inbound: number;
  outbound: number;
  answered: number;
  inbound_answered: number;
  outbound_answered: number;
  missed: number;
  missed_by_reason: MissedByReason;
  inbound_completion_rate: number | null;
  outbound_completion_rate: number | null;
  avg_call_duration_ms: number | null;
  avg_first_response_ms: number | null;
  avg_wrap_up_ms: number | null;
  service_level: number | null;
  avg_speed_of_answer_ms: number | null;
  abandonment_rate: number | null;
}

export interface StaffMetrics {
  staff_id: number;
  total: number;
  outbound: number;
  answered: number;
  call_duration_ms: number;
  ringing_ms: number;
  total_call_duration_ms: number;
}

export type Period = 'day' | 'week' | 'month';

export interface Dashboard {
  from: string;
  to: string;
  time_zone: string;
  period: Period;
  totals: Metrics;
  series: { start: string; metrics: Metrics }[];
  heatmap: number[][];
  staff: StaffMetrics[];
}

/** A rate as a percentage ("–" when there was nothing to divide). */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`;
}

/** Milliseconds as h:mm:ss or m:ss ("–" when unknown). */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export type StaffKey = Exclude<keyof StaffMetrics, 'staff_id'> | 'name';

/** The per-staff rows sorted by a column (names compare by locale; ties by id). */
export function sortStaff(
  rows: StaffMetrics[],
  key: StaffKey,
  desc: boolean,
  name: (id: number) => string,
): StaffMetrics[] {
  const sign = desc ? -1 : 1;
  return [...rows].sort((a, b) => {
    const c = key === 'name' ? name(a.staff_id).localeCompare(name(b.staff_id)) : a[key] - b[key];
    return c !== 0 ? sign * c : a.staff_id - b.staff_id;
  });
}

export interface Bar {
  x: number;
  width: number;
  answered: number; // height of the answered part
  missed: number; // height of the missed (inbound) part stacked on it
  other: number; // outbound not answered
  label: string;
  total: number;
}

/** Stacked bars for the series in a `width` × `height` box (answered, missed, other). */
export function bars(series: Dashboard['series'], width: number, height: number): Bar[] {
  const max = Math.max(1, ...series.map((s) => s.metrics.total));
  const slot = series.length ? width / series.length : width;
  const scale = (n: number) => (n / max) * height;
  return series.map((s, i) => {
    const m = s.metrics;
    const other = m.total - m.answered - m.missed;
    return {
      x: i * slot + slot * 0.1,
      width: Math.max(1, slot * 0.8),
      answered: scale(m.answered),
      missed: scale(m.missed),
      other: scale(Math.max(0, other)),
      label: s.start,
      total: m.total,
    };
  });
}

/** Heatmap cell colour: white for 0, deepening blue up to the busiest hour. */
export function heat(value: number, max: number): string {
  if (value <= 0 || max <= 0) return 'rgb(247, 249, 252)';
  const t = Math.min(1, value / max);
  const l = Math.round(92 - t * 52); // lightness 92% → 40%
  return `hsl(214, 70%, ${l}%)`;
}

/** Whether a pushed event should refetch the dashboard (a call ended: the numbers moved). */
export function movesNumbers(kind: string): boolean {
  return kind === 'call_ended' || kind === 'resync' || kind === 'state_changed';
}

/** Query string of a dashboard request. */
export function dashboardQuery(p: {
  from: string;
  to: string;
  period: Period;
  team?: number | null;
  staff?: number | null;
}): string {
  const q = new URLSearchParams({ from: p.from, to: p.to, period: p.period });
  if (p.team) q.set('team', String(p.team));
  if (p.staff) q.set('staff', String(p.staff));
  return q.toString();
}

/** The local date `days` before `iso` (YYYY-MM-DD), as YYYY-MM-DD. */
export function daysBefore(iso: string, days: number): string {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - days);
  return d.toISOString().slice(0, 10);
}

/** Today in a time zone as YYYY-MM-DD. */
export function today(timeZone: string | undefined, now = new Date()): string {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
  } catch {
    return now.toISOString().slice(0, 10);
  }
}
