// `npm test`: compiles the facade and its unit tests (tsconfig.test.json) and runs them with
// Node's test runner; the native module is faked. The N-API scenario against the dev stack
// needs the Rust side (cargo test -p uniffi-bindgen --test foreign_scenario).
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
rmSync(path.join(root, '.test-build'), { recursive: true, force: true });
execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.test.json'], {
  cwd: root,
  stdio: 'inherit',
});
writeFileSync(path.join(root, '.test-build/package.json'), '{"type":"module"}');
execFileSync(process.execPath, ['--import', './test/node/register.mjs', '--test', '.test-build/test/unit/'], {
  cwd: root,
  stdio: 'inherit',
});
