#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { rowsCommand, runDaemon, runOnce, showPlan } from './commands.js';
import { loadConfig } from './config.js';
import { AgentError } from './core/errors.js';
import { createMetrics, describeMetrics } from './agent/metrics.js';
import { createLogger } from './log.js';
import { buildAgent } from './main.js';
import { VERSION } from './version.js';

const HELP = `multinic-agent ${VERSION}: keeps this node's secondary NICs equal to the multi_interface table.

Usage: multinic-agent [--db URL] <command>

Commands:
  run        run the daemon: a cycle at start, then every POLL_INTERVAL (SIGTERM/SIGINT stop it)
  once       run one cycle and exit (0: all changes held, 1: a change failed or the cycle failed)
  plan       print what a cycle would change, without changing anything (0: in sync, 2: changes pending)
  metrics    print the Prometheus metrics the agent exposes, with their types, labels and help
  demo       the agent on a simulated node with the embedded store: as root, virtual NICs and a real
             systemd-networkd in a sandbox; else files only. [--once] [--files-only] [--port N]
  rows       list, add, change or delete rows of the embedded store (DB_URL=sqlite:PATH); rows --help

Options:
  --db URL       the desired-state store, as DB_URL (sqlite:PATH for the embedded one)
  -h, --help     show this help
  -v, --version  print the version

Settings come from the environment (DB_HOST, DB_USER, DB_PASSWORD or DB_PASSWORD_FILE, DB_NAME, ...,
or DB_URL=sqlite:PATH for the embedded store); see the README. Invalid settings are all listed and the exit code is 2.`;

async function main(args: readonly string[]): Promise<number> {
  const db = takeDbOption(args);
  if (typeof db === 'string') {
    process.stderr.write(`${db}\n\n${HELP}\n`);
    return 2;
  }
  if (db.url !== undefined) process.env['DB_URL'] = db.url;
  const argv = db.rest;
  const command = argv[0];
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (command === 'metrics') {
    for (const m of await describeMetrics(createMetrics({ version: VERSION, osType: '-', nodeName: '-' }))) {
      process.stdout.write(`${m.name}\t${m.type}\t${m.labels.join(',') || '-'}\t${m.help}\n`);
    }
    return 0;
  }
  if (command === 'rows') return rows(argv.slice(1));
  if (command === 'demo') return demo(argv.slice(1));
  if (!['run', 'once', 'plan'].includes(command) || argv.length > 1) {
    process.stderr.write(`unknown arguments: ${argv.join(' ')}\n\n${HELP}\n`);
    return 2;
  }
  const loaded = loadConfig({ env: process.env, readFile: (path) => readFileSync(path, 'utf8'), hostname });
  if (!loaded.ok) {
    process.stderr.write(`invalid settings:\n${loaded.errors.map((e) => `  - ${e}`).join('\n')}\n`);
    return 2;
  }
  const logger = createLogger(loaded.config.logLevel);
  let agent;
  try {
    agent = await buildAgent(loaded.config, logger);
  } catch (err) {
    logger.error(
      { error_type: err instanceof AgentError ? err.kind : 'config', reason: String(err) },
      'cannot start',
    );
    return 2;
  }
  try {
    if (command === 'plan') return await showPlan(agent, (line) => process.stdout.write(`${line}\n`));
    if (command === 'once') return await runOnce(agent, logger);
    return await runDaemon(agent, loaded.config, logger);
  } catch (err) {
    const error = err instanceof AgentError ? err : new AgentError('io', String(err));
    logger.error({ error_type: error.kind, reason: error.message }, 'command failed');
    return 1;
  } finally {
    await agent.close();
  }
}

/** `--db URL` or `--db=URL` before the command: the store, as DB_URL. A string is a usage error. */
function takeDbOption(args: readonly string[]): { url?: string; rest: readonly string[] } | string {
  const first = args[0];
  if (first === '--db') {
    const url = args[1];
    return url === undefined || url === '' ? '--db needs a URL' : { url, rest: args.slice(2) };
  }
  if (first?.startsWith('--db=')) {
    const url = first.slice('--db='.length);
    return url === '' ? '--db needs a URL' : { url, rest: args.slice(1) };
  }
  return { rest: args };
}

async function demo(args: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: { once: { type: 'boolean' }, 'files-only': { type: 'boolean' }, port: { type: 'string' } },
    }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${HELP}\n`);
    return 2;
  }
  const port = Number(values.port ?? '8080');
  if (!/^\d+$/.test(values.port ?? '8080') || port > 65535) {
    process.stderr.write(`--port must be a port number (0-65535), got ${values.port}\n`);
    return 2;
  }
  const { runDemo } = await import('./demo/demo.js');
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  return runDemo({
    once: values.once === true,
    filesOnly: values['files-only'] === true,
    port,
    out,
    stopped,
  });
}

async function rows(args: readonly string[]): Promise<number> {
  const io = {
    out: (line: string) => process.stdout.write(`${line}\n`),
    err: (line: string) => process.stderr.write(`${line}\n`),
  };
  if (args[0] === '-h' || args[0] === '--help') {
    const { ROWS_HELP } = await import('./rows.js');
    io.out(ROWS_HELP);
    return 0;
  }
  const loaded = loadConfig({ env: process.env, readFile: (path) => readFileSync(path, 'utf8'), hostname });
  if (!loaded.ok) {
    io.err(`invalid settings:\n${loaded.errors.map((e) => `  - ${e}`).join('\n')}`);
    return 2;
  }
  return rowsCommand(args, loaded.config, io);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fatal: ${String(err)}\n`);
    process.exit(1);
  },
);
