# Share of perf samples whose call stack holds a frame, or a caller frame with a callee below it.
# Usage: perf script -i perf.data | python3 benches/perf-stacks.py "NAME|CALLER_SUBSTRING|CALLEE_SUBSTRING_OR_EMPTY" ...
import sys, re, collections
# perf script output: sample header line, then frames "\t addr sym (dso)", blank line between samples
pairs = [l.split('|') for l in sys.argv[1:]]
n = 0; counts = collections.Counter()
cur = []
def flush():
    global n
    if not cur: return
    n += 1
    text = cur  # frames leaf-first
    for name, outer, inner in pairs:
        # inner must appear below (closer to leaf than) outer
        io = [i for i,f in enumerate(text) if outer in f]
        if not io: continue
        if inner == '':
            counts[name] += 1; continue
        ii = [i for i,f in enumerate(text) if inner in f and i < max(io)]
        if ii: counts[name] += 1
for line in sys.stdin:
    if line.strip() == '':
        flush(); cur = []
    elif line.startswith('\t') or line.startswith(' '):
        parts = line.strip().split(' ', 1)
        cur.append(parts[1] if len(parts) > 1 else parts[0])
flush()
print('samples', n)
for name, *_ in pairs:
    print(f'{100*counts[name]/n:5.1f}%  {name}')
