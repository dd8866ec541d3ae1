#!/usr/bin/env python3
# Prints the import loops among the top-level modules of src/ (strongly connected components
# of the graph of `crate::x` uses outside #[cfg(test)]); [] when there are none.
# Run from the repository root: python3 scripts/import-loops.py
import os,re,sys
root='src'
mods={}
for dp,dn,fn in os.walk(root):
    for f in fn:
        if not f.endswith('.rs'): continue
        p=os.path.join(dp,f)
        rel=os.path.relpath(p,root)[:-3]
        parts=rel.split('/')
        if parts[-1] in ('mod','lib','main'): parts=parts[:-1]
        top=parts[0] if parts else 'lib'
        src=open(p).read()
        src=src.split('#[cfg(test)]')[0]
        src=re.sub(r'//[^\n]*','',src)  # comments and doc links are not imports
        deps=set(re.findall(r'crate::([a-z_0-9]+)',src))
        # super:: in top-level files of a folder refer to same top
        mods.setdefault(top,set()).update(d for d in deps if d!=top)
# tarjan
idx={};low={};st=[];on=set();res=[];i=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
    for w in mods.get(v,()):
        if w not in mods: continue
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        c=[]
        while True:
            w=st.pop();on.discard(w);c.append(w)
            if w==v:break
        if len(c)>1: res.append(sorted(c))
for v in list(mods):
    if v not in idx: sc(v)
print(res)
