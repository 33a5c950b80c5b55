#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { rowsCommand, runDaemon, runOnce, showPlan } from './commands.js';
import { loadConfig, type Config } from './config.js';
import { AgentError } from './core/errors.js';
import { createMetrics, describeMetrics } from './agent/metrics.js';
import { createLogger } from './log.js';
import { buildAgent } from './main.js';
import { VERSION } from './version.js';
import { commandSpec, GLOBAL_OPTIONS, HELP, HELP_OPTION, type CommandSpec } from './cli-usage.js';

/** A command's arguments parsed by its spec; a number is the exit code when it must not run (help, usage). */
type Parsed = { values: Record<string, string | boolean | undefined>; positionals: string[] } | number;

async function main(args: readonly string[]): Promise<number> {
  const split = splitAtCommand(args);
  if (typeof split === 'string') return usageError(split, HELP);
  const { global, command, rest } = split;
  if (global.version === true) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (global.db !== undefined) process.env['DB_URL'] = global.db;
  if (command === undefined && global.help !== true) return usageError('no command given', HELP);
  // `--help`, `--help plan`, `help`, `help plan`: the main help, or the command's own usage.
  if (command === undefined || command === 'help' || global.help === true) {
    const topic = command === 'help' ? rest[0] : command;
    const usage = topic === undefined ? HELP : commandSpec(topic)?.usage;
    if (usage === undefined) return usageError(`unknown command: ${topic}`, HELP);
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const spec = commandSpec(command);
  if (spec === undefined) return usageError(`unknown command: ${command}`, HELP);
  const parsed = parseCommand(spec, rest);
  if (typeof parsed === 'number') return parsed;
  if (command === 'metrics') {
    for (const m of await describeMetrics(createMetrics({ version: VERSION, osType: '-', nodeName: '-' }))) {
      process.stdout.write(`${m.name}\t${m.type}\t${m.labels.join(',') || '-'}\t${m.help}\n`);
    }
    return 0;
  }
  if (command === 'rows') return rows(rest);
  if (command === 'fleet') return fleet(parsed.positionals, parsed.values['json'] === true);
  if (command === 'demo') return demo(parsed.values);
  return agentCommand(command, parsed.values);
}

/**
 * The options before the command (`--db URL`, `--help`, `--version`), the command, and its arguments.
 * A string is a usage error.
 */
function splitAtCommand(
  args: readonly string[],
): { global: { db?: string; help?: boolean; version?: boolean }; command?: string; rest: string[] } | string {
  // A lenient pass finds the command: the first positional once the global options took their values.
  const { tokens } = parseArgs({
    args: [...args],
    options: GLOBAL_OPTIONS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const first = tokens.find((token) => token.kind === 'positional');
  const end = first?.index ?? args.length;
  const noUrl = (token: (typeof tokens)[number]) =>
    token.kind === 'option' && token.name === 'db' && token.index < end && !token.value;
  if (tokens.some(noUrl)) return '--db needs a URL';
  try {
    const { values } = parseArgs({ args: args.slice(0, end), options: GLOBAL_OPTIONS, strict: true });
    return { global: values, command: first?.value, rest: args.slice(end + 1) };
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Parses a command's arguments strictly by its spec; `--help` prints its usage. */
function parseCommand(spec: CommandSpec, args: string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...spec.options, ...HELP_OPTION },
      allowPositionals: spec.positionals,
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(`${spec.usage}\n`);
      return 0;
    }
    return { values, positionals };
  } catch (err) {
    return usageError(err instanceof Error ? err.message : String(err), spec.usage);
  }
}

function usageError(message: string, usage: string): number {
  process.stderr.write(`${message}\n\n${usage}\n`);
  return 2;
}

/** run, once and plan: the agent, built from the validated settings. */
async function agentCommand(command: string, values: Record<string, unknown>): Promise<number> {
  const config = settings();
  if (config === null) return 2;
  const logger = createLogger(config.logLevel);
  let agent;
  try {
    agent = await buildAgent(config, logger);
  } catch (err) {
    logger.error(
      { error_type: err instanceof AgentError ? err.kind : 'config', reason: String(err) },
      'cannot start',
    );
    return 2;
  }
  try {
    if (command === 'plan') {
      const write = (line: string) => process.stdout.write(`${line}\n`);
      return await showPlan(agent, write, { failOnRefused: values['fail-on-refused'] === true });
    }
    if (command === 'once') return await runOnce(agent, logger);
    return await runDaemon(agent, config, logger);
  } catch (err) {
    const error = err instanceof AgentError ? err : new AgentError('io', String(err));
    logger.error({ error_type: error.kind, reason: error.message }, 'command failed');
    return 1;
  } finally {
    await agent.close();
  }
}

async function demo(values: Record<string, unknown>): Promise<number> {
  const portText = typeof values['port'] === 'string' ? values['port'] : '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    process.stderr.write(`--port must be a port number (0-65535), got ${portText}\n`);
    return 2;
  }
  const { runDemo } = await import('./demo/demo.js');
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  return runDemo({
    once: values['once'] === true,
    filesOnly: values['files-only'] === true,
    port,
    out,
    stopped,
  });
}

async function fleet(positionals: readonly string[], json: boolean): Promise<number> {
  const config = settings();
  if (config === null) return 2;
  const { fleetCommand } = await import('./fleet-command.js');
  return fleetCommand(positionals, json, config, {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
}

async function rows(args: readonly string[]): Promise<number> {
  const io = {
    out: (line: string) => process.stdout.write(`${line}\n`),
    err: (line: string) => process.stderr.write(`${line}\n`),
  };
  const config = settings();
  return config === null ? 2 : rowsCommand(args, config, io);
}

/** The settings from the environment; null when invalid, after listing every problem on stderr. */
function settings(): Config | null {
  const loaded = loadConfig({ env: process.env, readFile: (path) => readFileSync(path, 'utf8'), hostname });
  if (loaded.ok) return loaded.config;
  process.stderr.write(`invalid settings:\n${loaded.errors.map((e) => `  - ${e}`).join('\n')}\n`);
  return null;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fatal: ${String(err)}\n`);
    process.exit(1);
  },
);
