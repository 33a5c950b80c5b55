import { describe, expect, it } from 'vitest';
import { loadConfig, parseDuration } from '../../src/config.js';

const base = { DB_HOST: 'db', DB_USER: 'multinic', DB_PASSWORD: 'pw', DB_NAME: 'multinic_db' };

function load(env: Record<string, string | undefined>, files: Record<string, string> = {}) {
  return loadConfig({
    env,
    readFile: (path) => {
      const content = files[path];
      if (content === undefined) throw new Error('ENOENT');
      return content;
    },
    hostname: () => 'worker-1.novalocal',
  });
}

describe('the desired-state store is always chosen explicitly', () => {
  it('refuses to start with no database configured at all, naming both choices', () => {
    const result = load({ NODE_NAME: 'worker-1' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    // One problem, one message: not also "DB_HOST is required", "DB_USER is required", ...
    expect(result.errors).toEqual([
      expect.stringMatching(/^no database configured: .*DB_URL=sqlite:PATH.*remove every interface$/),
    ]);
  });

  it('selects the embedded store with DB_URL, without any MySQL setting', () => {
    const result = load({ DB_URL: 'sqlite:/var/lib/multinic/desired.db', DB_FILTER_DELETED: 'false' });
    expect(result.ok && result.config.db).toEqual({
      kind: 'sqlite',
      path: '/var/lib/multinic/desired.db',
      filterDeleted: false,
      queryTimeoutMs: 10_000,
    });
  });

  it('resolves a relative DB_URL path against the working directory', () => {
    const result = load({ DB_URL: 'sqlite:./multinic.db' });
    expect(result.ok && result.config.db).toMatchObject({
      kind: 'sqlite',
      path: `${process.cwd()}/multinic.db`,
    });
  });

  it('keeps the MySQL store when DB_URL is not set', () => {
    const result = load(base);
    expect(result.ok && result.config.db).toMatchObject({
      kind: 'mysql',
      host: 'db',
      database: 'multinic_db',
    });
  });

  it('refuses DB_URL together with MySQL settings', () => {
    const result = load({ ...base, DB_URL: 'sqlite:/tmp/x.db' });
    expect(!result.ok && result.errors).toEqual([
      'set either DB_URL or the MySQL settings, not both (also set: DB_HOST, DB_USER, DB_PASSWORD, DB_NAME)',
    ]);
  });

  it.each(['sqlite:', 'mysql://db/multinic', 'sqlite://host/x.db', './multinic.db'])(
    'refuses the malformed DB_URL %s',
    (url) => {
      const result = load({ DB_URL: url });
      expect(!result.ok && result.errors).toEqual([expect.stringMatching(/^DB_URL must be sqlite:PATH/)]);
    },
  );
});

describe('loadConfig', () => {
  it('applies documented defaults', () => {
    const result = load(base);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config).toMatchObject({
      nodeName: 'worker-1.novalocal',
      pollIntervalMs: 30_000,
      healthPort: 8080,
      hostRoot: '/host',
      commandPrefix: ['nsenter', '-t', '1', '-m', '-u', '-i', '-n', '-p', '--'],
      db: { host: 'db', port: 3306, password: 'pw', filterDeleted: true, keepConnection: false },
      logLevel: 'info',
      backupKeep: 20,
      maxBackoffMs: 300_000,
      failedRetryMaxMs: 3_600_000,
    });
  });

  it('lists every problem at once, and never falls back silently on a malformed value', () => {
    const result = load({
      DB_PORT: '33o6',
      POLL_INTERVAL: 'soon',
      LOG_LEVEL: 'loud',
      HOST_ROOT: 'host',
      FAILED_RETRY_MAX: '-1',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual(
      expect.arrayContaining([
        'DB_HOST is required',
        'DB_USER is required',
        'DB_NAME is required',
        'DB_PORT must be an integer from 1 to 65535',
        expect.stringContaining('POLL_INTERVAL must be a duration') as unknown,
        expect.stringContaining('FAILED_RETRY_MAX must be a duration') as unknown,
        'LOG_LEVEL must be debug, info, warn or error',
        'HOST_ROOT must be an absolute path',
        expect.stringContaining('DB_PASSWORD or DB_PASSWORD_FILE is required') as unknown,
      ]),
    );
  });

  it('reads the password from a mounted Secret file, without its trailing newline', () => {
    const { DB_PASSWORD: _omit, ...rest } = base;
    const result = load({ ...rest, DB_PASSWORD_FILE: '/secret/pw' }, { '/secret/pw': 's3cr3t\n' });
    expect(result.ok && result.config.db.kind === 'mysql' && result.config.db.password).toBe('s3cr3t');
  });

  it('refuses both password sources, and an unreadable file', () => {
    const both = load({ ...base, DB_PASSWORD_FILE: '/secret/pw' }, { '/secret/pw': 'x' });
    expect(!both.ok && both.errors).toEqual(['set only one of DB_PASSWORD and DB_PASSWORD_FILE']);
    const { DB_PASSWORD: _omit, ...rest } = base;
    const missing = load({ ...rest, DB_PASSWORD_FILE: '/nope' });
    expect(!missing.ok && missing.errors).toEqual(['DB_PASSWORD_FILE /nope cannot be read']);
  });

  it('accepts an explicitly empty password and an empty command prefix', () => {
    const result = load({ ...base, DB_PASSWORD: '', COMMAND_PREFIX: '', NODE_NAME: 'node-a' });
    expect(
      result.ok && [
        result.config.db.kind === 'mysql' && result.config.db.password,
        result.config.commandPrefix,
        result.config.nodeName,
      ],
    ).toEqual(['', [], 'node-a']);
  });

  it.each([
    ['30s', 30_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['45', 45_000],
    ['1.5s', null],
    ['-1s', null],
    ['', null],
  ])('parseDuration(%j) = %j', (text, expected) => {
    expect(parseDuration(text)).toBe(expected);
  });
});

describe('fleet rollout settings', () => {
  it('defaults to 10% on MySQL, with a lease covering an apply, its verification and a rollback', () => {
    const result = load(base);
    expect(result.ok && result.config.rollout).toEqual({
      budget: { kind: 'percent', percent: 10 },
      leaseMs: 2 * (120_000 + 20_000) + 60_000,
    });
    expect(result.ok && result.config.fleetHeartbeatMs).toBe(600_000);
  });

  it('takes a count, a percentage, off, and a lease', () => {
    const count = load({ ...base, ROLLOUT_MAX_UNAVAILABLE: '3', ROLLOUT_LEASE: '90s' });
    expect(count.ok && count.config.rollout).toEqual({
      budget: { kind: 'count', nodes: 3 },
      leaseMs: 90_000,
    });
    const off = load({ ...base, ROLLOUT_MAX_UNAVAILABLE: 'off' });
    expect(off.ok && off.config.rollout.budget).toEqual({ kind: 'off' });
  });

  it.each(['-1', '150%', 'abc', '0', '1.5'])(
    'refuses ROLLOUT_MAX_UNAVAILABLE=%s, naming the setting',
    (value) => {
      const result = load({ ...base, ROLLOUT_MAX_UNAVAILABLE: value });
      expect(result.ok).toBe(false);
      expect(result.ok ? [] : result.errors).toEqual([
        'ROLLOUT_MAX_UNAVAILABLE must be off, a number of nodes (1 or more) or a percentage 1%–100%',
      ]);
    },
  );

  it('refuses a lease outside 5s–1h', () => {
    const result = load({ ...base, ROLLOUT_LEASE: '1s' });
    expect(result.ok ? [] : result.errors).toEqual([
      'ROLLOUT_LEASE must be a duration like 5m between 5s and 1h',
    ]);
  });

  it('with the embedded store the budget is off, and refused when set', () => {
    const embedded = load({ DB_URL: 'sqlite:/tmp/x.db' });
    expect(embedded.ok && embedded.config.rollout.budget).toEqual({ kind: 'off' });
    expect(load({ DB_URL: 'sqlite:/tmp/x.db', ROLLOUT_MAX_UNAVAILABLE: 'off' }).ok).toBe(true);
    const refused = load({ DB_URL: 'sqlite:/tmp/x.db', ROLLOUT_MAX_UNAVAILABLE: '1' });
    expect(refused.ok ? [] : refused.errors).toEqual([
      expect.stringMatching(/^ROLLOUT_MAX_UNAVAILABLE needs MySQL\/MariaDB/),
    ]);
  });
});
