import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { errorCatalog } from '../src/errors.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string): string => readFileSync(root + p, 'utf8');

it('documents every error code in docs/errors.md with its status', () => {
  const doc = read('docs/errors.md');
  for (const [code, spec] of Object.entries(errorCatalog)) {
    assert.match(doc, new RegExp(`\\| \`${code}\` \\| ${spec.status} \\|`), `docs/errors.md lacks ${code}`);
  }
});

it('lists every environment variable that config.ts reads in the README', () => {
  const config = read('src/config.ts');
  const readme = read('README.md');
  const vars = new Set([...config.matchAll(/\b(CONFIRMA_[A-Z_]+|DATABASE_URL)\b/g)].map((m) => m[1]!));
  assert.ok(vars.size > 10);
  for (const v of vars) assert.ok(readme.includes(`\`${v}\``), `README does not document ${v}`);
});

it('answers --help for every command', () => {
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const top = execFileSync(process.execPath, [main, '--help'], { encoding: 'utf8' });
  const commands = [...top.matchAll(/^\s{2}([a-z]+)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
  assert.ok(commands.includes('start') && commands.includes('receiver') && commands.includes('migrate'));
  const readme = read('README.md');
  for (const c of commands) {
    const help = execFileSync(process.execPath, [main, c, '--help'], { encoding: 'utf8' });
    assert.match(help, new RegExp(`Usage: confirma ${c}`));
    assert.ok(readme.includes(`confirma ${c}`), `README does not mention confirma ${c}`);
  }
});
