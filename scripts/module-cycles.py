#!/usr/bin/env python3
"""Module dependency cycles in a crate's src (default shared/src): edges from `use crate::…`,
`use super::…`, `use self::…` and inline `crate::…` paths, resolved to the module that defines the
item (following `pub use` re-exports); test modules are left out. Prints any cycles; exits 1 if any."""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'shared', 'src')
mods = {}  # module path tuple -> file
for dirpath, _, files in os.walk(root):
    for f in files:
        if not f.endswith('.rs'): continue
        rel = os.path.relpath(os.path.join(dirpath, f), root)[:-3].split(os.sep)
        if rel[-1] in ('mod', 'lib'): rel = rel[:-1]
        mods[tuple(rel)] = os.path.join(dirpath, f)
def is_test(m):
    return 'tests' in m
def strip_tests(src):
    # drop `#[cfg(test)] mod tests { … }` blocks and `#[cfg(test)] mod x;` lines
    out, i = [], 0
    while True:
        j = src.find('#[cfg(test)]', i)
        if j < 0: out.append(src[i:]); break
        out.append(src[i:j])
        k = src.find('\n', j)
        rest = src[k+1:]
        line_end = rest.find('\n')
        nxt = rest[:line_end]
        if nxt.strip().startswith('mod ') and nxt.strip().endswith(';'):
            i = k + 1 + line_end + 1; continue
        brace = src.find('{', k)
        semi = src.find(';', k)
        if semi != -1 and semi < brace: i = semi + 1; continue
        depth, p = 0, brace
        while p < len(src):
            if src[p] == '{': depth += 1
            elif src[p] == '}':
                depth -= 1
                if depth == 0: break
            p += 1
        i = p + 1
    return ''.join(out)
srcs = {m: strip_tests(open(f).read()) for m, f in mods.items() if not is_test(m)}
# re-exports: module -> {name: target module path}
def expand_use(body):
    """'a::{b, c::{d, e}}' -> ['a::b', 'a::c::d', 'a::c::e']"""
    body = re.sub(r'\s+', '', body)
    def rec(prefix, s):
        if '{' not in s:
            return [prefix + p for p in s.split(',') if p]
        out, depth, cur = [], 0, ''
        head, inner = s.split('{', 1)
        inner = inner[:inner.rfind('}')]
        parts, depth, cur = [], 0, ''
        for ch in inner:
            if ch == ',' and depth == 0: parts.append(cur); cur = ''; continue
            if ch == '{': depth += 1
            if ch == '}': depth -= 1
            cur += ch
        if cur: parts.append(cur)
        for p in parts:
            out += rec(prefix + head, p) if '{' in p else [prefix + head + p]
        return out
    return rec('', body)
def resolve_path(cur, path):
    segs = [s.split(' as ')[0] for s in path.split('::')]
    segs = [s for s in segs if s]
    if not segs: return None
    if segs[0] == 'crate': base = (); segs = segs[1:]
    elif segs[0] == 'super':
        base = cur
        while segs and segs[0] == 'super': base = base[:-1]; segs = segs[1:]
    elif segs[0] == 'self': base = cur; segs = segs[1:]
    else:
        base = cur  # a child module named directly (e.g. `use indexes::X` inside its parent)
        if cur + (segs[0],) not in mods: return None
    return base + tuple(segs)
reexports = {}
for m, s in srcs.items():
    for body in re.findall(r'pub use ([^;]+);', s):
        for p in expand_use(body):
            full = resolve_path(m, p)
            if full: reexports.setdefault(m, {})[full[-1] if p.split('::')[-1] != '*' else '*'] = full
def module_of(full, seen=0):
    # longest module prefix; an item named there may be a re-export from elsewhere
    for n in range(len(full), -1, -1):
        if full[:n] in mods:
            m = full[:n]
            if n < len(full) and seen < 10:
                name = full[n]
                target = reexports.get(m, {}).get(name)
                if target and target[:-1] != m: return module_of(target, seen + 1)
            return m
    return None
edges = set()
for m, s in srcs.items():
    paths = []
    for body in re.findall(r'\buse ((?:crate|super|self)[^;]*);', s):
        paths += expand_use(body)
    # plain `use child::…` inside a parent
    for body in re.findall(r'^\s*use ([a-z_]+::[^;]*);', s, re.M):
        if (m + (body.split('::')[0],)) in mods: paths += expand_use(body)
    paths += [p for p in re.findall(r'(?<![\w:])crate::[a-z_][\w:]*', s) if not p.endswith('::')]
    pub_uses = set()
    for body in re.findall(r'pub use ([^;]+);', s):
        pub_uses |= set(expand_use(body))
    for p in paths:
        if p in pub_uses: continue  # a re-export is the module tree, not a dependency
        full = resolve_path(m, p)
        if not full: continue
        target = module_of(full)
        if target is None or target == m or is_test(target): continue
        edges.add((m, target))
# cycles: strongly connected components (Tarjan)
graph = {}
for a, b in edges: graph.setdefault(a, set()).add(b)
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
    for w in graph.get(v, ()):
        if w not in index: visit(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(comp)
for v in list(graph):
    if v not in index: visit(v)
name = lambda m: '::'.join(m) or 'crate'
print(f"{len(srcs)} non-test modules, {len(edges)} import edges")
if not sccs: print("no module cycles")
for c in sccs:
    print("CYCLE:", ' , '.join(sorted(name(x) for x in c)))
    for a, b in sorted(edges):
        if a in c and b in c: print("   ", name(a), "->", name(b))
sys.exit(1 if sccs else 0)
