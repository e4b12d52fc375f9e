#!/usr/bin/env python3
"""Function names of a component's core modules, from their `name` sections, as JSON
({module index: {function index: name}}), for bench/profile/jitprof.py.

    python3 bench/profile/wasmnames.py COMPONENT.wasm NAMES.json
"""
import sys, json
def leb(d,i):
    r=0;s=0
    while True:
        b=d[i];i+=1;r|=(b&0x7f)<<s;s+=7
        if b<0x80: return r,i
def modules(d):
    i=8; out=[]
    while i<len(d):
        sid=d[i];i+=1; sz,i=leb(d,i)
        if sid==1: out.append(d[i:i+sz])
        i+=sz
    return out
def names(m):
    i=8; res={}
    while i<len(m):
        sid=m[i];i+=1; sz,i=leb(m,i); end=i+sz
        if sid==0:
            nl,j=leb(m,i); nm=m[j:j+nl]; j+=nl
            if nm==b'name':
                while j<end:
                    sub=m[j];j+=1; ssz,j=leb(m,j); send=j+ssz
                    if sub==1:
                        n,k=leb(m,j)
                        for _ in range(n):
                            idx,k=leb(m,k); l,k=leb(m,k); res[idx]=m[k:k+l].decode('utf8','replace'); k+=l
                    j=send
        i=end
    return res
d=open(sys.argv[1],'rb').read()
ms=modules(d)
print(len(ms), [len(x) for x in ms], file=sys.stderr)
out={}
for k,m in enumerate(ms):
    out[k]=names(m)
json.dump(out, open(sys.argv[2],'w'))
print({k:len(v) for k,v in out.items()}, file=sys.stderr)
