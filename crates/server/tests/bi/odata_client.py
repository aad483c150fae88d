"""Reads Denwa's OData v4 feed with a real OData client from PyPI (python-odata), as a BI
tool would: reflect $metadata, query with $filter/$select, follow @odata.nextLink.

Usage: odata_client.py URL ACCESS_KEY SECRET FROM_ISO TO_ISO
Prints one JSON object with what it read."""
import datetime
import json
import sys

import requests
from odata import ODataService

url, key, secret, start, end = sys.argv[1:6]
session = requests.Session()
session.auth = (key, secret)
# Small server pages, so reading everything follows several @odata.nextLink.
service = ODataService(url, session=session, reflect_entities=True, quiet_progress=True,
                       extra_headers={"Prefer": "odata.maxpagesize=200"})
Call = service.entities["Calls"]
DailyStat = service.entities["DailyStats"]
start_dt = datetime.datetime.fromisoformat(start)
end_dt = datetime.datetime.fromisoformat(end)


everything = service.query(Call).filter(Call.StartedAt >= start_dt).filter(Call.StartedAt < end_dt)
ids = [c.CallId for c in everything]
inbound = service.query(Call).filter(Call.StartedAt >= start_dt).filter(Call.StartedAt < end_dt).filter(Call.Direction == "inbound")
inbound_rows = list(inbound)
first = service.query(Call).filter(Call.StartedAt >= start_dt).filter(Call.StartedAt < end_dt).order_by(Call.StartedAt.asc()).limit(3).select(Call.CallId, Call.Direction)
selected = first.all()
days = list(service.query(DailyStat))
print(json.dumps({
    "properties": sorted(p for p in dir(Call) if p[:1].isupper()),
    "count": len(ids),
    "distinct": len(set(ids)),
    "inbound": len(inbound_rows),
    "inbound_directions": sorted({c.Direction for c in inbound_rows}),
    "selected": selected,
    "daily_calls": sum(int(d.Calls) for d in days),
    "daily_rows": len(days),
}, default=str))
