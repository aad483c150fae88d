"""Client half of bench/stats.sh: times the denwa dashboard and CSV export, then DuckDB
computing the same aggregates on the same rows (the exported CSV). Prints TSV lines:
calls, what, p50 ms, p99 ms, note."""
import datetime
import os
import statistics  # noqa: F401  (kept for ad-hoc use)
import time

import duckdb
import requests

n, port = int(os.environ["N"]), os.environ["PORT"]
key_h = {"x-access-key": os.environ["KEY"], "x-access-secret": os.environ["SECRET"]}
base = f"http://127.0.0.1:{port}"
s = requests.Session()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def row(what, times, note):
    print(f"{n}\t{what}\t{pct(times, 50):.1f}\t{pct(times, 99):.1f}\t{note}", flush=True)


print(f"{n}\tgenerate-calls (once)\t{float(os.environ['GEN_S']) * 1000:.0f}\t-\t"
      f"data dir {os.environ['DB_MB']} MB", flush=True)

# ---- denwa: the 90-day dashboard (totals, daily series, heatmap, per staff) from the rollup
to = s.get(f"{base}/open/v1/stats/dashboard", headers=key_h).json()["to"]
frm = (datetime.date.fromisoformat(to) - datetime.timedelta(days=89)).isoformat()
q = {"from": frm, "to": to, "period": "day"}
times = []
for _ in range(int(os.environ["REQS"])):
    t = time.perf_counter()
    r = s.get(f"{base}/open/v1/stats/dashboard", params=q, headers=key_h)
    r.raise_for_status()
    times.append((time.perf_counter() - t) * 1000)
dash = r.json()
tot = dash["totals"]
row("denwa dashboard, 90 days (HTTP, rollup)", times, f"{tot['total']} calls")

# ---- denwa: CSV export of the same 90 days, streamed to a file
token = s.post(f"{base}/api/v1/auth/login",
               json={"email": "bench@example.invalid", "password": "bench-password-1"}).json()["token"]
staff_h = {"authorization": f"Bearer {token}"}
csv_path = os.path.join(os.environ["WORK"], f"calls-{n}.csv")
times = []
for _ in range(int(os.environ["EXPORTS"])):
    t = time.perf_counter()
    with s.get(f"{base}/api/v1/channels/1/stats/calls.csv", params={"from": frm, "to": to},
               headers=staff_h, stream=True) as r:
        r.raise_for_status()
        with open(csv_path, "wb") as f:
            for chunk in r.iter_content(1 << 20):
                f.write(chunk)
    times.append((time.perf_counter() - t) * 1000)
mb = os.path.getsize(csv_path) / 1e6
rate = tot["total"] / (pct(times, 50) / 1000)
row("denwa CSV export, 90 days (streamed)", times, f"{mb:.0f} MB, {rate:,.0f} rows/s")

# ---- DuckDB: the same aggregates on the same rows
con = duckdb.connect()
con.execute("SET TimeZone = 'Asia/Tokyo'")
t = time.perf_counter()
con.execute(f"""CREATE TABLE calls AS SELECT * FROM read_csv('{csv_path}', header = true,
    types = {{'created_at': 'TIMESTAMPTZ', 'answered_at': 'TIMESTAMPTZ', 'ended_at': 'TIMESTAMPTZ',
             'customer_number': 'VARCHAR', 'channel_number': 'VARCHAR'}})""")
load_ms = (time.perf_counter() - t) * 1000
AGG = """
WITH c AS (SELECT *, CAST(created_at AS DATE) AS day, hour(created_at) AS hr,
                  isodow(created_at) AS wd FROM calls)
SELECT
  (SELECT count(*) FROM c),
  (SELECT count(*) FILTER (direction = 'outbound') FROM c),
  (SELECT count(*) FILTER (outcome = 'answered') FROM c),
  (SELECT count(*) FILTER (direction = 'inbound' AND outcome <> 'answered') FROM c),
  (SELECT count(*) FILTER (missed_reason = 'userLeft') FROM c),
  (SELECT avg(talk_seconds) FILTER (outcome = 'answered') FROM c),
  (SELECT avg(first_response_seconds) FROM c),
  (SELECT avg(wrap_up_seconds) FROM c),
  (SELECT count(*) FILTER (direction = 'inbound' AND outcome = 'answered'
                           AND first_response_seconds <= 20) FROM c),
  (SELECT list(x) FROM (SELECT count(*) AS x FROM c GROUP BY day ORDER BY day)),
  (SELECT list(x) FROM (SELECT count(*) AS x FROM c GROUP BY wd, hr ORDER BY wd, hr)),
  (SELECT list(x) FROM (SELECT count(*) AS x FROM c GROUP BY assignee ORDER BY assignee))
"""
times = []
for _ in range(int(os.environ["REQS"])):
    t = time.perf_counter()
    res = con.execute(AGG).fetchone()
    times.append((time.perf_counter() - t) * 1000)
row("DuckDB same aggregates, table in memory", times,
    f"load CSV {load_ms:.0f} ms; total {res[0]}")
times = []
for _ in range(3):
    t = time.perf_counter()
    duckdb.connect().execute(f"SELECT count(*), count(*) FILTER (outcome = 'answered'), "
                             f"avg(talk_seconds) FROM read_csv('{csv_path}', header = true)").fetchone()
    times.append((time.perf_counter() - t) * 1000)
row("DuckDB totals straight off the CSV", times, "parse + aggregate")

# The two agree on the same rows.
assert res[0] == tot["total"], (res[0], tot["total"])
assert res[1] == tot["outbound"], (res[1], tot["outbound"])
assert res[2] == tot["answered"], (res[2], tot["answered"])
assert res[3] == tot["missed"], (res[3], tot["missed"])
assert res[4] == tot["missed_by_reason"]["userLeft"]
assert abs(res[5] * 1000 - tot["avg_call_duration_ms"]) < 1, (res[5], tot["avg_call_duration_ms"])
assert sum(res[10]) == tot["total"]
