// Pickles from GPU nodes (optimizer.pt, training_args.bin, rng_state.pth, adapter_model.bin) are hostile input:
// torch.load(weights_only=True) was bypassed twice (CVE-2025-32434, CVE-2026-24747). The service stores and hashes
// them and reads adapter_model.bin's tensor shapes with a symbolic reader; nothing may ever load one. This test
// reads the server's source and dependencies and fails on anything that could.
import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dir, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'dist' ? [] : sources(path);
    return /\.(ts|tsx|js|mjs)$/.test(name) ? [path] : [];
  });
}

const files = [...sources(join(ROOT, 'server')), ...sources(join(ROOT, 'db')), ...sources(join(ROOT, 'web', 'src'))];

/** Code that loads a pickle, runs Python (which would), or evaluates strings as code (what an unpickler's REDUCE would need). */
const FORBIDDEN: readonly [string, RegExp][] = [
  ['torch.load', /torch\s*\.\s*load\s*\(/],
  ['pickle.load / pickle.loads', /pickle\s*\.\s*loads?\s*\(/],
  ['numpy.load with allow_pickle', /allow_pickle\s*=\s*True/],
  ['a Python interpreter', /['"`](?:python3?|\/usr\/bin\/python3?)['"`]\s*[,\]]/],
  ['a child process', /\bchild_process\b|\bBun\s*\.\s*spawn(?:Sync)?\s*\(|\bexecSync\s*\(|\bBun\s*\.\s*\$/],
  ['eval', /(?<![.\w])eval\s*\(/],
  ['new Function', /\bnew\s+Function\s*\(/],
];

/** The files that may start processes, and why: the embedded Postgres (initdb, pg_ctl, and id/useradd for its user). */
const MAY_SPAWN = new Set(['db/embedded.ts']);

/** npm packages that unpickle (would turn a GLOBAL/REDUCE into a call). */
const UNPICKLERS = ['pickleparser', 'jpickle', 'pickle', 'node-pickle', 'python-pickle', 'pickle-js', 'unpickle'];

describe('no code path can unpickle', () => {
  test('the server, database and web code never load a pickle, run Python or evaluate strings', () => {
    expect(files.length).toBeGreaterThan(100);
    const found: string[] = [];
    for (const path of files) {
      const text = readFileSync(path, 'utf8');
      for (const [what, re] of FORBIDDEN) {
        // Comments may name what is forbidden (this service's own explanations do); code may not.
        const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
        if (what === 'a child process' && MAY_SPAWN.has(relative(ROOT, path))) continue;
        if (re.test(code)) found.push(`${relative(ROOT, path)}: ${what}`);
      }
    }
    expect(found).toEqual([]);
  });

  test('no unpickling package is a dependency', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
    expect(deps.filter((d) => UNPICKLERS.includes(d) || /pickle/i.test(d))).toEqual([]);
  });

  test('the symbolic reader resolves no name it reads: a GLOBAL is data, never looked up or imported', () => {
    const reader = readFileSync(join(ROOT, 'server', 'outputs', 'pickle.ts'), 'utf8');
    // Nothing that turns a string into code or a module: no dynamic import, require, globalThis lookups.
    expect(reader).not.toMatch(/\bimport\s*\(|\brequire\s*\(|globalThis\s*\[|Reflect\s*\.\s*(?:apply|construct)/);
  });

  test('the forbidden patterns do match what they forbid (this test can fail)', () => {
    const hits = (code: string) => FORBIDDEN.filter(([, re]) => re.test(code)).map(([what]) => what);
    expect(hits('torch.load(path)')).toEqual(['torch.load']);
    expect(hits('pickle.loads(bytes)')).toEqual(['pickle.load / pickle.loads']);
    expect(hits("Bun.spawn(['python3', '-c', code])")).toContain('a child process');
    expect(hits("Bun.spawn(['python3', '-c', code])")).toContain('a Python interpreter');
    expect(hits("import { execSync } from 'node:child_process'")).toContain('a child process');
    expect(hits('eval(source)')).toEqual(['eval']);
    expect(hits('new Function(body)')).toEqual(['new Function']);
    expect(hits('const x = stack.pop()')).toEqual([]);
  });
});
