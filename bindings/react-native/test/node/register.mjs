// `node --import ./test/node/register.mjs --test ...`: installs resolve-hook.mjs.
import { register } from 'node:module';

register('./resolve-hook.mjs', import.meta.url);
