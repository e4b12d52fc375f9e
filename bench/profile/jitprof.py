#!/usr/bin/env python3
"""Per-function profile of a Spin component's guest code, from `perf` samples.

Wasmtime keeps each compiled component as an ELF image in anonymous memory, with a symbol
table naming its functions `wasm[M]::function[N]`; with the core module's `name` section
(an unstripped build: CARGO_PROFILE_RELEASE_STRIP=false) those become Rust names. This
reads the images from /proc/PID/mem, maps every sample's frames (its call chain, when
recorded with `perf record -g`) to functions and prints inclusive samples per function,
and per request given the request count.

    perf record -F 1000 -g -p PID -o cg.data -- sleep 13      # while wrk runs
    python3 bench/profile/jitprof.py PID cg.data NAMES.json REQUESTS [TOP] | c++filt

NAMES.json: `python3 bench/profile/wasmnames.py COMPONENT.wasm NAMES.json`.
Only for people measuring (bench/README.md); nothing runs it in CI.
"""
import sys, os, tempfile, subprocess, json, re, bisect, collections
pid=int(sys.argv[1]); data=sys.argv[2]; names=json.load(open(sys.argv[3])); reqs=float(sys.argv[4])
maps=[l.split() for l in open(f"/proc/{pid}/maps")]
imgs=[]
for a,b in zip(maps,maps[1:]):
    if a[1]=='r--p' and b[1]=='r-xp' and len(a)==5 and len(b)==5:
        s=int(a[0].split('-')[0],16); e=int(b[0].split('-')[1],16)
        with open(f"/proc/{pid}/mem","rb") as f:
            f.seek(s); hdr=f.read(4)
        if hdr!=b'\x7fELF': continue
        ee=e
        for c in maps:
            if int(c[0].split('-')[0],16)==e and c[1]=='r--p': ee=int(c[0].split('-')[1],16)
        with open(f"/proc/{pid}/mem","rb") as f:
            f.seek(s); d=f.read(ee-s)
        fn=os.path.join(tempfile.gettempdir(), f"wasm-image-{pid}-{s:x}.elf"); open(fn,'wb').write(d)
        syms=[]
        for line in subprocess.run(["nm","-n",fn],capture_output=True,text=True).stdout.splitlines():
            p=line.split(' ',2)
            if len(p)==3: syms.append((int(p[0],16),p[2]))
        imgs.append((int(b[0].split('-')[0],16),int(b[0].split('-')[1],16),syms,[x[0] for x in syms]))
def name(ip):
    for t,e,syms,keys in imgs:
        if t<=ip<e:
            k=bisect.bisect_right(keys,ip-t)-1
            nm=syms[k][1] if k>=0 else '?'
            m=re.match(r'wasm\[(\d+)\]::function\[(\d+)\]',nm)
            if m and m.group(1)=='0' and m.group(2) in names.get('0',{}): nm=names['0'][m.group(2)]
            return nm
    return None
out=subprocess.run(["perf","script","-i",data,"-F","ip"],capture_output=True,text=True).stdout
incl=collections.Counter(); total=0; injit=0
sample=[]
def flush():
    global total, injit
    if not sample: return
    total+=1
    names_=[name(ip) for ip in sample]
    if any(n is not None for n in names_): injit+=1
    for n in set(x for x in names_ if x): incl[n]+=1
for line in out.splitlines():
    if not line.strip():
        flush(); sample=[]; continue
    try: sample.append(int(line.strip().split()[0],16))
    except: pass
flush()
print(f"samples {total}, with a wasm frame {injit} = {injit*1000/reqs:.1f}us/req")
for n,c in incl.most_common(int(sys.argv[5])):
    print(f"{c:6d} {c*1000/reqs:7.2f}us/req {n[:170]}")
