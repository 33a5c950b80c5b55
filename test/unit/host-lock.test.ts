import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/core/errors.js';
import { createHostFs, type HostFs } from '../../src/host/host-fs.js';
import { acquireLock, parseOwner, startTime } from '../../src/host/lock.js';

const LOCK = '/var/lib/multinic/agent.lock';
let root: string;
let fs: HostFs;
const lockFile = () => path.join(root, 'var/lib/multinic/agent.lock');

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'multinic-lock-'));
  fs = createHostFs(root);
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

async function heldError(promise: Promise<unknown>): Promise<AgentError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof AgentError)) throw new Error(`expected lock_held, got ${String(err)}`);
  return err;
}

function plantLock(content: string): void {
  mkdirSync(path.dirname(lockFile()), { recursive: true });
  writeFileSync(lockFile(), content);
}

describe('acquireLock', () => {
  it('creates the lock with this pid and removes it on release', async () => {
    const lock = await acquireLock(fs);
    expect(parseOwner(readFileSync(lockFile(), 'utf8'))?.pid).toBe(process.pid);
    expect(readdirSync(path.dirname(lockFile()))).toEqual(['agent.lock']);
    await lock.release();
    expect(existsSync(lockFile())).toBe(false);
    await lock.release();
  });

  it('refuses a second acquire while the lock is held, and allows one after release', async () => {
    const lock = await acquireLock(fs);
    const err = await heldError(acquireLock(fs));
    expect(err.kind).toBe('lock_held');
    expect(err.details['pid']).toBe(process.pid);
    await lock.release();
    const again = await acquireLock(fs);
    await again.release();
  });

  it('refuses a lock held by another live process', async () => {
    plantLock(`${process.ppid} ${(await startTime(process.ppid)) ?? '-'}\n`);
    const err = await heldError(acquireLock(fs, LOCK));
    expect(err.kind).toBe('lock_held');
    expect(err.details['pid']).toBe(process.ppid);
    expect(readFileSync(lockFile(), 'utf8')).toContain(String(process.ppid));
  });

  it.each([
    ['a dead pid', '999999\n'],
    ['a reused pid (live, other start time)', `${process.ppid} 1\n`],
    ['our own pid from an earlier container', `${process.pid} 1\n`],
    ['garbage', 'not a pid\n'],
    ['an empty file', ''],
  ])('takes over a stale lock: %s', async (_name, content) => {
    plantLock(content);
    const lock = await acquireLock(fs);
    expect(parseOwner(readFileSync(lockFile(), 'utf8'))?.pid).toBe(process.pid);
    await lock.release();
    expect(existsSync(lockFile())).toBe(false);
  });

  it('leaves a lock that another agent took over in place on release', async () => {
    const lock = await acquireLock(fs);
    writeFileSync(lockFile(), `${process.ppid} -\n`);
    await lock.release();
    expect(readFileSync(lockFile(), 'utf8')).toBe(`${process.ppid} -\n`);
  });
});

describe('parseOwner', () => {
  it('reads pid and start time', () => {
    expect(parseOwner('42 12345\n')).toEqual({ pid: 42, start: '12345' });
    expect(parseOwner('42\n')).toEqual({ pid: 42, start: null });
    expect(parseOwner('0 1')).toBeNull();
    expect(parseOwner('-1')).toBeNull();
  });
});
