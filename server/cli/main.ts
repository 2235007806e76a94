#!/usr/bin/env bun
/**
 * `lora`: the command line of the model-artifact service. `bun run cli -- …` in a checkout, or the standalone
 * `dist/lora` (`bun run build:cli`). It talks to the service only through the typed client (server/client.ts),
 * so the binary carries no server code.
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { createClient } from '../client.ts';
import { credentials, type Env, login } from './config.ts';
import { CliError, EXIT, type ExitCode, toCliError, usageError } from './errors.ts';
import { listModels, showModel } from './models.ts';
import { barsReporter, jsonReporter, type Reporter } from './progress.ts';
import { pull } from './pull.ts';
import { watchJob } from './watch.ts';

const HELP = `lora: pull models from a lora-artifacts service, and follow training runs

Usage:
  lora login --url URL --token TOKEN   check the API token against the service, then save both
                                       (--token omitted: read from stdin)
  lora models ls [--sort recent|quality] [--tag TAG]... [--limit N] [--json]
  lora models show REF [--json]
  lora pull REF [--to DIR] [--include GLOB]... [--checkpoint NAME] [--parallel N] [--json]
  lora jobs watch JOB_ID [--interval SECONDS] [--json]

REF is a model id, a family (its latest version), family@v3 or family@alias (family@production).

pull:
  --to DIR           where the files go (default ./<family>); their paths inside the model are kept
  --include GLOB     only paths matching GLOB (repeatable); a pattern without / matches file names at
                     any depth ('*.json'), one with / the whole path ('checkpoint-*/adapter_*')
  --checkpoint NAME  only that checkpoint folder, plus the model's top-level tokenizer files and card
  --parallel N       connections at once (default 4); files of 64 MiB and more are fetched in ranges
  --json             one JSON line per event (also the default when stdout is not a terminal)
  Files land as NAME.part (with NAME.part.json recording the bytes on disk) and are renamed into place
  once their SHA-256 matches; an interrupted pull resumes from the bytes on disk, a repeated one checks
  the hashes and downloads nothing.

Configuration: $XDG_CONFIG_HOME/lora-artifacts/config.json (default ~/.config/…, mode 0600);
LORA_URL and LORA_TOKEN override it.

Exit codes:
  0    success
  1    failure: the job or its ingest failed, or something unexpected
  2    usage: unknown command or option, missing argument, malformed reference
  3    not signed in, or the token is wrong, expired, revoked or not allowed
  4    not found: model, job, file, checkpoint (or not visible to this token)
  5    verification failed: a file's SHA-256 did not match; it was deleted
  6    the service or storage is unreachable or kept failing
  130  interrupted (Ctrl-C; 143 for SIGTERM): partial files are kept for the next pull
`;

function positiveInt(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw usageError(`--${name} must be a whole number from 1 to ${max}`);
  return n;
}

/** parseArgs for one command: its own options, strict, positionals counted. */
function args<T extends ParseArgsOptionsConfig>(argv: string[], options: T, positionals: string[]) {
  const parse = () => parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (err) {
    throw usageError(`${(err as Error).message.split('\n')[0]} (lora --help)`);
  }
  if (parsed.positionals.length !== positionals.length) {
    throw usageError(
      parsed.positionals.length < positionals.length
        ? `missing ${positionals.slice(parsed.positionals.length).join(' ')} (lora --help)`
        : `unexpected argument ${JSON.stringify(parsed.positionals[positionals.length])} (lora --help)`,
    );
  }
  return parsed;
}

async function api(env: Env) {
  const creds = await credentials(env);
  return { creds, api: createClient({ baseUrl: creds.url, token: creds.token }) };
}

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

async function run(argv: string[], env: Env, signal: AbortSignal): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') return void process.stdout.write(HELP);

  if (command === 'login') {
    const { values } = args(rest, { url: { type: 'string' }, token: { type: 'string' } }, []);
    if (!values.url) throw usageError('missing --url URL (lora --help)');
    let token = values.token;
    if (token === undefined) {
      if (process.stdin.isTTY) throw usageError('missing --token TOKEN (or pipe the token on stdin)');
      token = (await Bun.stdin.text()).split(/\r?\n/)[0] ?? '';
    }
    const path = await login(env, { url: values.url, token });
    print(`Signed in to ${values.url}; saved to ${path}`);
    return;
  }

  if (command === 'models') {
    const [sub, ...more] = rest;
    if (sub === 'ls' || sub === 'list') {
      const { values } = args(
        more,
        {
          sort: { type: 'string', default: 'recent' },
          tag: { type: 'string', multiple: true },
          limit: { type: 'string' },
          json: { type: 'boolean' },
        },
        [],
      );
      if (values.sort !== 'recent' && values.sort !== 'quality') throw usageError('--sort must be recent or quality');
      const { api: client } = await api(env);
      return listModels(
        client,
        { sort: values.sort, tags: values.tag ?? [], limit: positiveInt(values.limit, 'limit', 20, 100), json: !!values.json },
        print,
      );
    }
    if (sub === 'show') {
      const { values, positionals } = args(more, { json: { type: 'boolean' } }, ['REF']);
      const { api: client } = await api(env);
      return showModel(client, positionals[0]!, { json: !!values.json }, print);
    }
    throw usageError(`unknown command: lora models ${sub ?? ''} (ls or show; lora --help)`);
  }

  if (command === 'pull') {
    const { values, positionals } = args(
      rest,
      {
        to: { type: 'string' },
        include: { type: 'string', multiple: true },
        checkpoint: { type: 'string' },
        parallel: { type: 'string' },
        json: { type: 'boolean' },
      },
      ['REF'],
    );
    const parallel = positiveInt(values.parallel, 'parallel', 4, 32);
    const json = !!values.json || !process.stdout.isTTY || !process.stderr.isTTY;
    const { api: client } = await api(env);
    const reporter: Reporter = json ? jsonReporter() : barsReporter();
    try {
      await pull(
        client,
        { ref: positionals[0]!, to: values.to, include: values.include ?? [], checkpoint: values.checkpoint, parallel },
        reporter,
        signal,
        json ? () => {} : print,
      );
    } catch (err) {
      reporter.stop();
      const cli = toCliError(signal.aborted ? signal.reason : err);
      if (json) reporter.event({ event: 'error', message: cli.message, code: cli.exitCode });
      throw cli;
    }
    return;
  }

  if (command === 'jobs') {
    const [sub, ...more] = rest;
    if (sub !== 'watch') throw usageError(`unknown command: lora jobs ${sub ?? ''} (watch; lora --help)`);
    const { values, positionals } = args(more, { interval: { type: 'string' }, json: { type: 'boolean' } }, ['JOB_ID']);
    const { api: client, creds } = await api(env);
    const intervalMs = positiveInt(values.interval, 'interval', 3, 3600) * 1000;
    return watchJob(client, creds, positionals[0]!, { json: !!values.json, intervalMs }, print, signal);
  }

  throw usageError(`unknown command: ${command} (lora --help)`);
}

async function main(): Promise<void> {
  const controller = new AbortController();
  let interrupts = 0;
  const interrupt = (code: ExitCode, name: string) => () => {
    // A second Ctrl-C does not wait for the clean stop.
    if (++interrupts > 1) process.exit(code);
    controller.abort(new CliError(code, `interrupted (${name}): partial files are kept; run the same command to resume`));
  };
  process.on('SIGINT', interrupt(EXIT.interrupted, 'SIGINT'));
  process.on('SIGTERM', interrupt(143, 'SIGTERM'));
  let code: ExitCode = EXIT.ok;
  try {
    await run(process.argv.slice(2), process.env, controller.signal);
  } catch (err) {
    const cli = toCliError(controller.signal.aborted ? controller.signal.reason : err);
    process.stderr.write(`lora: ${cli.message}\n`);
    code = cli.exitCode;
  }
  process.exitCode = code;
  // Nothing should be left running; should anything be, it does not hold the exit up.
  setTimeout(() => process.exit(code), 500).unref();
}

await main();
