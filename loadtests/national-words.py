#!/usr/bin/env python3
"""Title queries on a kept national database (`KEEP=1 loadtests/national.sh`), PostgreSQL alone:
for titles sampled from search_discs, the trigram index asked for the two longest words (the
rule before 2026-12-07) against the two rarest by the common words learned as Spindle does
(`db::search::learn_common_words`), each run under EXPLAIN (ANALYZE, BUFFERS), warm.

  DATABASE_URL=postgres://… [PSQL=/usr/lib/postgresql/NN/bin/psql] loadtests/national-words.py"""
import subprocess, json, os, re, sys
url=os.environ['DATABASE_URL']
psql=os.environ.get('PSQL','psql')
def q(sql):
    return subprocess.run([psql,url,'-qAtX','-c',sql],capture_output=True,text=True,check=True).stdout
# common words as learn_common_words finds them
pct=q("SELECT LEAST(100, GREATEST(0.01, 30000*100.0/GREATEST(reltuples,1))) FROM pg_class WHERE oid='search_text'::regclass").strip()
sampled=int(q(f"SELECT COUNT(*) FROM search_text TABLESAMPLE SYSTEM ({pct}) REPEATABLE (7)").strip())
rows=q(f"""SELECT w, COUNT(*) FROM (SELECT DISTINCT s.ctid, w FROM (SELECT ctid, text FROM search_text TABLESAMPLE SYSTEM ({pct}) REPEATABLE (7)) s,
 regexp_split_to_table(lower(s.text), '[^[:alnum:]]+') AS w WHERE length(w) >= 3) d GROUP BY w HAVING COUNT(*) >= {max(2,int(sampled*0.001+0.999))}""")
common={l.split('|')[0]:int(l.split('|')[1])/sampled for l in rows.strip().split('\n') if l}
print("sampled",sampled,"common words",len(common), sorted(common.items(), key=lambda x:-x[1])[:12], file=sys.stderr)
def words(needle):
    return [w for w in re.split(r'[^\w]|_', needle) if len(w)>=3]
def old(needle):
    ws=sorted(words(needle), key=lambda w:-len(w))[:2]
    return [] if not ws or sum(len(w.encode()) for w in ws)==len(needle.strip().encode()) else ws
def new(needle):
    seen=set(); uniq=[w for w in words(needle) if not (w.lower() in seen or seen.add(w.lower()))]
    ws=sorted(uniq, key=lambda w:(common.get(w.lower(),0.0), -len(w)))[:2]
    return [] if not ws or sum(len(w.encode()) for w in ws)==len(needle.strip().encode()) else ws
titles=[l for l in q("SELECT title FROM search_discs TABLESAMPLE SYSTEM (0.05) REPEATABLE (3) LIMIT 60").split('\n') if l]
def esc(s): return s.replace("'","''").replace('\\','\\\\').replace('%','\\%').replace('_','\\_')
def run(needle, ws):
    conds=" AND ".join([f"text ILIKE '%{esc(w)}%' ESCAPE '\\'" for w in ws]+[("(text || '')" if ws else "text")+f" ILIKE '%{esc(needle)}%' ESCAPE '\\'"])
    sql=f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT disc_id, field FROM search_text WHERE {conds} LIMIT 5000"
    p=json.loads(q(sql))[0]
    pl=p['Plan']
    return p['Execution Time'], pl.get('Shared Hit Blocks',0)+pl.get('Shared Read Blocks',0), pl.get('Actual Rows',0)
res=[]
for t in titles:
    o=old(t); n=new(t)
    a=run(t,o); b=run(t,n)   # warm-up both
    a=run(t,o); b=run(t,n)
    res.append((t,o,n,a,b))
    print(f"{a[0]:8.1f} ms {a[1]:7d} buf -> {b[0]:8.1f} ms {b[1]:7d} buf  rows {a[2]}/{b[2]}  {o} -> {n}  {t[:60]}")
import statistics
oa=sorted(r[3][0] for r in res); nb=sorted(r[4][0] for r in res)
def pct_(v,p): return v[min(len(v)-1,int(len(v)*p))]
print("old: median %.1f p90 %.1f max %.1f ms; buffers median %d" % (statistics.median(oa), pct_(oa,.9), oa[-1], statistics.median(r[3][1] for r in res)))
print("new: median %.1f p90 %.1f max %.1f ms; buffers median %d" % (statistics.median(nb), pct_(nb,.9), nb[-1], statistics.median(r[4][1] for r in res)))
print("same rows:", all(r[3][2]==r[4][2] for r in res), "titles", len(res))
