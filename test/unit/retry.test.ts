import { describe, expect, it } from 'vitest';
import { changeKey, holdFailed, rememberFailed, type FailedChange } from '../../src/core/retry.js';
import type { Change, NamedNic } from '../../src/core/types.js';
import { configOf, ownedFile } from '../support/fixtures.js';

function nic(n: number, overrides: Partial<NamedNic> = {}): NamedNic {
  return { id: n + 1, ...configOf(n), ...overrides };
}
const create = (n: NamedNic): Change => ({ kind: 'create', nic: n, drifts: ['missing_file'] });
const remove: Change = { kind: 'remove', file: ownedFile(configOf(7)), drifts: ['orphan'], liveName: null };
const failedOnce = (n: NamedNic, retryCycle: number): FailedChange => ({
  key: changeKey(n),
  failures: 1,
  retryCycle,
  wait: 0,
  reason: 'boom',
});

describe('changeKey', () => {
  it('differs when any applied field differs, and says link-only for no address', () => {
    const base = changeKey(nic(0));
    expect(base).toBe('multinic0 fa:16:3e:00:00:00 10.0.0.10/24 1500');
    expect(changeKey(nic(0, { mtu: 9000 }))).not.toBe(base);
    expect(changeKey(nic(0, { name: 'multinic5' }))).not.toBe(base);
    expect(changeKey(nic(0, { address: { ip: '10.0.0.10', prefix: 16 } }))).not.toBe(base);
    expect(changeKey(nic(0, { address: null }))).toBe('multinic0 fa:16:3e:00:00:00 link-only 1500');
  });
});

describe('holdFailed', () => {
  it('applies everything when nothing failed before', () => {
    const changes = [create(nic(0)), create(nic(1)), remove];
    expect(holdFailed(changes, new Map(), 5)).toEqual({ apply: changes, held: new Map() });
  });

  it('holds the same configuration until its retry cycle, and never a removal', () => {
    const failed = new Map([[1, failedOnce(nic(0), 7)]]);
    const changes = [create(nic(0)), create(nic(1)), remove];
    const at6 = holdFailed(changes, failed, 6);
    expect(at6.apply).toEqual([create(nic(1)), remove]);
    expect([...at6.held.keys()]).toEqual([1]);
    expect(holdFailed(changes, failed, 7).apply).toEqual(changes);
  });

  it('tries a changed row at once', () => {
    const failed = new Map([[1, failedOnce(nic(0), 100)]]);
    const changed = create(nic(0, { mtu: 1400 }));
    expect(holdFailed([changed], failed, 6)).toEqual({ apply: [changed], held: new Map() });
  });
});

describe('rememberFailed', () => {
  const fail = (n: NamedNic) => ({ change: create(n), failure: { reason: 'refused' } });

  it.each([
    // failures so far → cycles it waits after this failure
    [0, 0],
    [1, 1],
    [2, 3],
    [3, 7],
    [4, 15],
    [9, 120], // capped
  ])('after %i earlier failures of the same change it waits %i cycles', (earlier, wait) => {
    const previous = new Map(
      earlier === 0
        ? []
        : [[1, { key: changeKey(nic(0)), failures: earlier, retryCycle: 10, wait: 0, reason: 'x' }]],
    );
    const next = rememberFailed(previous, new Map(), [fail(nic(0))], 10, 120);
    expect(next.get(1)).toEqual({
      key: changeKey(nic(0)),
      failures: earlier + 1,
      retryCycle: 11 + wait,
      wait,
      reason: 'refused',
    });
  });

  it('starts counting again for another configuration of the row', () => {
    const previous = new Map([
      [1, { key: changeKey(nic(0)), failures: 4, retryCycle: 3, wait: 7, reason: 'x' }],
    ]);
    const next = rememberFailed(previous, new Map(), [fail(nic(0, { mtu: 1400 }))], 3, 120);
    expect(next.get(1)).toMatchObject({ failures: 1, retryCycle: 4, wait: 0 });
  });

  it('forgets a change that held, a row without a change now, and keeps the held ones', () => {
    const held = new Map([[2, failedOnce(nic(1), 9)]]);
    const previous = new Map([...held, [1, failedOnce(nic(0), 3)], [3, failedOnce(nic(2), 3)]]);
    const next = rememberFailed(previous, held, [{ change: create(nic(0)), failure: null }], 3, 120);
    expect([...next.keys()]).toEqual([2]);
  });
});
