import { describe, expect, it } from 'vitest';
import { bars, dashboardQuery, daysBefore, duration, heat, movesNumbers, pct, sortStaff, today, type Metrics, type StaffMetrics } from './dashboard';

const m = (total: number, answered: number, missed: number): Metrics => ({
  total, inbound: total, outbound: 0, answered, inbound_answered: answered, outbound_answered: 0, missed,
  missed_by_reason: { notInOperation: 0, noOperator: missed, userLeft: 0, unspecified: 0 },
  inbound_completion_rate: null, outbound_completion_rate: null, avg_call_duration_ms: null,
  avg_first_response_ms: null, avg_wrap_up_ms: null, service_level: null, avg_speed_of_answer_ms: null,
  abandonment_rate: null,
});

describe('dashboard helpers', () => {
  it('formats rates and durations', () => {
    expect(pct(0.8234)).toBe('82.3%');
    expect(pct(null)).toBe('–');
    expect(duration(65_400)).toBe('1:05');
    expect(duration(3_725_000)).toBe('1:02:05');
    expect(duration(null)).toBe('–');
  });

  it('sorts staff by any column, ties by id', () => {
    const rows: StaffMetrics[] = [
      { staff_id: 2, total: 5, outbound: 1, answered: 3, call_duration_ms: 10, ringing_ms: 1, total_call_duration_ms: 11 },
      { staff_id: 1, total: 5, outbound: 0, answered: 4, call_duration_ms: 30, ringing_ms: 2, total_call_duration_ms: 32 },
      { staff_id: 3, total: 9, outbound: 2, answered: 1, call_duration_ms: 20, ringing_ms: 0, total_call_duration_ms: 20 },
    ];
    const names = new Map([[1, 'Chie'], [2, 'Aiko'], [3, 'Ben']]);
    const name = (id: number) => names.get(id) ?? '';
    expect(sortStaff(rows, 'total', true, name).map((r) => r.staff_id)).toEqual([3, 1, 2]);
    expect(sortStaff(rows, 'total_call_duration_ms', false, name).map((r) => r.staff_id)).toEqual([2, 3, 1]);
    expect(sortStaff(rows, 'name', false, name).map((r) => r.staff_id)).toEqual([2, 3, 1]);
  });

  it('scales stacked bars to the busiest period', () => {
    const b = bars([{ start: '2026-03-01', metrics: m(10, 6, 4) }, { start: '2026-03-02', metrics: m(5, 5, 0) }], 200, 100);
    expect(b).toHaveLength(2);
    expect(b[0].answered + b[0].missed + b[0].other).toBeCloseTo(100);
    expect(b[1].answered).toBeCloseTo(50);
    expect(b[1].x).toBeCloseTo(110);
    expect(bars([], 100, 100)).toEqual([]);
  });

  it('colours the heatmap and knows which events move numbers', () => {
    expect(heat(0, 10)).toBe('rgb(247, 249, 252)');
    expect(heat(10, 10)).toBe('hsl(214, 70%, 40%)');
    expect(movesNumbers('call_ended')).toBe(true);
    expect(movesNumbers('call_ringing')).toBe(false);
  });

  it('builds queries and local dates', () => {
    expect(dashboardQuery({ from: '2026-03-01', to: '2026-03-30', period: 'week', team: 4 })).toBe('from=2026-03-01&to=2026-03-30&period=week&team=4');
    expect(daysBefore('2026-03-01', 1)).toBe('2026-02-28');
    // 2026-03-02 15:30 UTC is already 3 March in Tokyo.
    expect(today('Asia/Tokyo', new Date('2026-03-02T15:30:00Z'))).toBe('2026-03-03');
  });
});
