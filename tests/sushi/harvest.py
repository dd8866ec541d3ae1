"""Harvests Spindle's COUNTER R5.1 reports with celus-nigiri (the SUSHI client library of
Celus, from PyPI) and prints, per report, the errors nigiri found and the sum of each metric
over the records it read: a real harvester's view of the API.

    harvest.py SUSHI_BASE_URL CUSTOMER_ID API_KEY BEGIN_MONTH END_MONTH
"""
import json
import sys
import tempfile

from celus_nigiri.client import Sushi51Client
from celus_nigiri.counter51 import Counter51PRReport

url, customer, api_key, begin, end = sys.argv[1:6]
client = Sushi51Client(url, customer, extra_params={"api_key": api_key})
out = {}
for report_type in ["pr", "pr_p1", "ir", "ir_m1"]:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        if report_type == "pr_p1":
            # nigiri reads PR_P1 (a Standard View of PR) with its PR reader.
            report = client._get_report_data(
                Counter51PRReport, report_type, begin, end, output_content=f, params={}
            )
        else:
            report = client.get_report_data(report_type, begin, end, output_content=f)
        f.flush()
        totals = {}
        records = 0
        if not report.errors:
            for record in report.file_to_records(f.name):
                totals[record.metric] = totals.get(record.metric, 0) + record.value
                records += 1
        out[report_type] = {
            "errors": [str(e) for e in report.errors],
            "warnings": [str(w) for w in report.warnings],
            "records": records,
            "totals": totals,
        }
print(json.dumps(out))
