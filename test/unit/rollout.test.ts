import { describe, expect, it } from 'vitest';
import { needsSlot, parseBudget, slotAfter, slotsOf } from '../../src/core/rollout.js';
import type { Change } from '../../src/core/types.js';
import { configOf, ownedFile } from '../support/fixtures.js';

const nic = { ...configOf(0), id: 1 };
const file = ownedFile(configOf(0));
const create: Change = { kind: 'create', nic, drifts: ['missing_file'] };
const update: Change = { kind: 'update', nic, previous: file, drifts: ['mtu'] };
const reapply: Change = { kind: 'reapply', nic, file, drifts: ['live_mtu'] };
const remove: Change = { kind: 'remove', file, drifts: ['orphan'], liveName: 'multinic0' };
const record: Change = { kind: 'record', nic, previous: file, drifts: ['owner'] };
const adoptQuiet: Change = { kind: 'adopt', nic, previous: file, drifts: [] };
const adoptApplying: Change = { kind: 'adopt', nic, previous: file, drifts: ['mtu'] };

describe('ROLLOUT_MAX_UNAVAILABLE', () => {
  it.each<[string, ReturnType<typeof parseBudget>]>([
    ['off', { kind: 'off' }],
    ['OFF', { kind: 'off' }],
    ['1', { kind: 'count', nodes: 1 }],
    ['25', { kind: 'count', nodes: 25 }],
    ['10%', { kind: 'percent', percent: 10 }],
    ['100%', { kind: 'percent', percent: 100 }],
    ['-1', null],
    ['0', null],
    ['0%', null],
    ['150%', null],
    ['abc', null],
    ['1.5', null],
    ['', null],
  ])('%j → %j', (text, expected) => {
    expect(parseBudget(text)).toEqual(expected);
  });

  it('a percentage of the nodes that have rows rounds down, and is at least one slot', () => {
    expect(slotsOf({ kind: 'percent', percent: 10 }, 500)).toBe(50);
    expect(slotsOf({ kind: 'percent', percent: 10 }, 19)).toBe(1);
    expect(slotsOf({ kind: 'percent', percent: 10 }, 0)).toBe(1);
    expect(slotsOf({ kind: 'percent', percent: 50 }, 5)).toBe(2);
    expect(slotsOf({ kind: 'count', nodes: 3 }, 1)).toBe(3);
  });
});

describe('which changes need a slot', () => {
  it('those that touch a NIC already configured; not a new NIC, nor a rewrite that applies nothing', () => {
    const all = [create, update, reapply, remove, record, adoptQuiet, adoptApplying];
    expect(all.map(needsSlot)).toEqual([false, true, true, true, false, false, true]);
  });
});

describe('the slot after a cycle', () => {
  it.each<[string, Parameters<typeof slotAfter>, ReturnType<typeof slotAfter>]>([
    ['a change verified: released', ['changing', [], []], { action: 'release' }],
    [
      'a change failed: kept as failed',
      ['changing', [{ change: update, reason: 'verify' }], []],
      { action: 'fail', reason: 'verify' },
    ],
    [
      'a new NIC failed: no slot was needed',
      ['none', [{ change: create, reason: 'x' }], []],
      { action: 'keep' },
    ],
    ['the failed change waits (backoff): still failed', ['failed', [], [update]], { action: 'keep' }],
    [
      'the failed change is no longer needed (rows changed back): released',
      ['failed', [], []],
      { action: 'release' },
    ],
    [
      'after a start, nothing needs one: released (the table may hold a stale one)',
      ['unknown', [], []],
      { action: 'release' },
    ],
    ['never held one, nothing to do: nothing sent', ['none', [], []], { action: 'keep' }],
  ])('%s', (_label, args, expected) => {
    expect(slotAfter(...args)).toEqual(expected);
  });
});
