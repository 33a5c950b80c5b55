import { describe, expect, it } from 'vitest';
import { countRows, describePlan } from '../../src/commands.js';
import type { Plan, RowOutcome } from '../../src/core/types.js';

const nic = { id: 1, mac: 'fa:16:3e:00:00:01', address: null, mtu: 1500, name: 'multinic0' };
const waiting: RowOutcome = {
  id: 2,
  state: 'rejected',
  mac: 'fa:16:3e:00:00:02',
  problem: { kind: 'waiting', field: 'macaddress', reason: 'waiting for NIC' },
};
const invalid: RowOutcome = {
  id: 3,
  state: 'rejected',
  mac: null,
  problem: { kind: 'invalid', field: 'address', reason: 'invalid address' },
};

function planOf(rows: RowOutcome[], changes: Plan['changes'] = []): Plan {
  return { changes, rows, orphanCandidates: [], held: [], foreign: [] };
}

describe('plan summary (the last line of `plan`)', () => {
  it('in sync with nothing refused', () => {
    expect(describePlan(planOf([{ id: 1, state: 'in_sync', nic }]))).toEqual([
      'in sync: no changes pending, 0 rows refused',
    ]);
  });

  it('counts refused and waiting rows apart; a row waiting for its NIC is not refused', () => {
    const decided = planOf(
      [{ id: 1, state: 'change', nic }, waiting, invalid],
      [{ kind: 'create', nic, drifts: ['missing_file'] }],
    );
    expect(countRows(decided)).toEqual({ refused: 1, waiting: 1 });
    expect(describePlan(decided).at(-1)).toBe('1 change pending, 1 row refused, 1 waiting for a NIC');
  });

  it('counts a row state it does not know (one added later) as refused, not as configured', () => {
    const later = { id: 4, state: 'held' } as unknown as RowOutcome;
    expect(countRows(planOf([later, invalid]))).toEqual({ refused: 2, waiting: 0 });
  });
});
