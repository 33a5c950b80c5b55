/**
 * What each command of the CLI accepts and says about itself: its options (for node:util parseArgs) and its
 * usage text. No module here loads the agent or better-sqlite3, so `--help` works everywhere.
 */
import type { ParseArgsConfig } from 'node:util';
import { VERSION } from './version.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec {
  /** One line for the command list of the main help. */
  summary: string;
  /** The command's own usage, printed by `<command> --help` and after a usage error. */
  usage: string;
  options: Options;
  /** Whether the command takes positional arguments (only `rows` does). */
  positionals: boolean;
}

/** Options before the command. */
export const GLOBAL_OPTIONS = {
  db: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const satisfies Options;

export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies Options;

const SETTINGS = `Settings come from the environment (see the README's Settings): DB_HOST, DB_USER, DB_PASSWORD or
DB_PASSWORD_FILE, DB_NAME for MySQL/MariaDB, or DB_URL=sqlite:PATH (or --db) for the embedded store.
Outside a container (a checkout, this machine's own root) also set HOST_ROOT=/ COMMAND_PREFIX= .
Invalid settings are all listed on stderr and the exit code is 2.`;

export const ROWS_OPTIONS = {
  mac: { type: 'string' },
  address: { type: 'string' },
  cidr: { type: 'string' },
  mtu: { type: 'string' },
  node: { type: 'string' },
  all: { type: 'boolean' },
} as const satisfies Options;

export const ROWS_HELP = `Usage: multinic-agent rows <list|add|set|delete> (the embedded store: DB_URL=sqlite:PATH, or --db URL before rows)

  rows list [--all]                       this store's rows (--all: with deleted ones)
  rows add --mac MAC [--address IP --cidr NET/LEN] [--mtu N] [--node NAME]
                                          adds a row (NODE_NAME by default; no address: link only);
                                          creates the database file when it does not exist
  rows set ID [--mac MAC] [--address IP|none] [--cidr NET/LEN|none] [--mtu N] [--node NAME]
                                          changes a row
  rows delete ID                          marks a row deleted (sets deleted_at)
  -h, --help                              this help

Exit codes: 0 done, 1 no such row or a database error, 2 invalid arguments or settings.`;

const COMMANDS: Record<string, CommandSpec> = {
  run: {
    summary: 'run the daemon: a cycle at start, then every POLL_INTERVAL (SIGTERM/SIGINT stop it)',
    usage: `Usage: multinic-agent [--db URL] run

The daemon: a cycle at start, then one every POLL_INTERVAL (±10% jitter, backing off after failed cycles),
with health and metrics on HEALTH_BIND:HEALTH_PORT. SIGTERM or SIGINT lets the current cycle finish and
stops it.

Exit codes: 0 stopped by a signal, 1 cannot run (e.g. another agent holds the node lock), 2 invalid settings.

${SETTINGS}`,
    options: {},
    positionals: false,
  },
  once: {
    summary: 'run one cycle and exit (0: all changes held, 1: a change failed or the cycle failed)',
    usage: `Usage: multinic-agent [--db URL] once

One cycle, as the daemon runs it (holding the node lock), then exit.

Exit codes: 0 every change held, 1 a change failed or the cycle failed (database, host, lock held),
2 invalid settings.

${SETTINGS}`,
    options: {},
    positionals: false,
  },
  plan: {
    summary: 'print what a cycle would change, without changing anything (0: in sync, 2: changes pending)',
    usage: `Usage: multinic-agent [--db URL] plan [--fail-on-refused]

Prints the changes a cycle would make (create, update, reapply, remove), each row the agent skips with
the reason, and last a line with the number of changes pending and of rows refused. Changes nothing.

  --fail-on-refused  exit 3 when a row is refused (invalid, duplicate, over capacity, protected, ...),
                     whether or not changes are pending; a row waiting for its NIC is not refused
  -h, --help         this help

Exit codes: 0 in sync, 2 changes pending, 3 rows refused (with --fail-on-refused), 1 an error (database,
host), 2 invalid settings.

${SETTINGS}`,
    options: { 'fail-on-refused': { type: 'boolean' } },
    positionals: false,
  },
  metrics: {
    summary: 'print the Prometheus metrics the agent exposes, with their types, labels and help',
    usage: `Usage: multinic-agent metrics

Prints one line per metric the agent exposes: name, type, labels (- for none) and help, tab-separated.
Needs no settings. Exit code 0.`,
    options: {},
    positionals: false,
  },
  demo: {
    summary:
      'the agent on a simulated node with the embedded store: as root, virtual NICs and a real\n' +
      '             systemd-networkd in a sandbox; else files only. [--once] [--files-only] [--port N]',
    usage: `Usage: multinic-agent demo [--once] [--files-only] [--port N]

The agent on a simulated node with an embedded store. As root (with unshare, netplan and
systemd-networkd), a sandbox of Linux namespaces with virtual NICs, the real netplan and systemd-networkd;
otherwise, or with --files-only, the agent's plan for a simulated host root. This machine's own network is
never touched. It prints commands to edit the rows from another terminal, and follows the edits until
Ctrl-C, which removes everything it made.

  --once        print the node once and exit (what npm run demo -- --once does)
  --files-only  the files-only demo even as root
  --port N      this machine's 127.0.0.1 port for the sandbox demo's health and metrics (default 8080;
                0: any free port)
  -h, --help    this help

Exit codes: 0 done, 1 the agent finished no cycle in time (--once), 2 invalid arguments.`,
    options: { once: { type: 'boolean' }, 'files-only': { type: 'boolean' }, port: { type: 'string' } },
    positionals: false,
  },
  fleet: {
    summary: "the whole fleet from the agents' table: who is converged, changing, waiting, failed [--json]",
    usage: `Usage: multinic-agent fleet [--json]
       multinic-agent fleet release NODE

Reads the agents' own table (multinic_agent_status, sql/fleet.sql) on MySQL/MariaDB: one line per node
with its state (converged, changing, waiting, failed, refused rows), its rows' counts, its rollout slot
(changing: a lease while it applies; failed: kept after a failed change, counting against
ROLLOUT_MAX_UNAVAILABLE), its last cycle and why. \`fleet release NODE\` gives the node's slot back, so
the rollout goes on (do it once the failure is understood; fixing the rows does it too).

  --json      the rows as JSON, for scripts
  -h, --help  this help

Exit codes: 0 done, 1 a database error, 2 invalid arguments or settings (the embedded store has no fleet).

${SETTINGS}`,
    options: { json: { type: 'boolean' } },
    positionals: true,
  },
  rows: {
    summary: 'list, add, change or delete rows of the embedded store (DB_URL=sqlite:PATH)',
    usage: ROWS_HELP,
    options: ROWS_OPTIONS,
    positionals: true,
  },
};

export const HELP = `multinic-agent ${VERSION}: keeps this node's secondary NICs equal to the multi_interface table.

Usage: multinic-agent [--db URL] <command> [options]
       multinic-agent <command> --help     the command's own usage

Commands:
${Object.entries(COMMANDS)
  .map(([name, spec]) => `  ${name.padEnd(9)}  ${spec.summary}`)
  .join('\n')}

Options:
  --db URL       the desired-state store, as DB_URL (sqlite:PATH for the embedded one)
  -h, --help     show this help
  -v, --version  print the version

${SETTINGS}`;

/** The spec of a command by name; undefined for anything else (own keys only: not `toString`). */
export function commandSpec(name: string): CommandSpec | undefined {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}
