import { describe, expect, it } from 'vitest';
import { AgentError } from '../../src/core/errors.js';
import { splitNodeRows } from '../../src/store/node-rows.js';

const base = { port_id: 'p', subnet_id: 's', macaddress: 'fa:16:3e:00:00:01', netplan_success: 1 };

describe('splitNodeRows: what both stores make of their SELECT', () => {
  it("sorts this node's rows by id and keeps the asked-for others as elsewhere", () => {
    const result = splitNodeRows(
      [
        { ...base, id: 3, attached_node_name: 'worker-1.novalocal' },
        { ...base, id: 1, attached_node_name: 'worker-1' },
        { ...base, id: 2, attached_node_name: 'worker-2' },
        { ...base, id: 4, attached_node_name: null },
        { ...base, id: 5, attached_node_name: 'worker-10' },
      ],
      'worker-1',
      [2, 4],
    );
    expect(result.rows.map((row) => row.id)).toEqual([1, 3]);
    expect(result.elsewhere).toEqual([
      { id: 2, node: 'worker-2' },
      { id: 4, node: null },
    ]);
  });

  it.each([
    ['no id column', { ...base, attached_node_name: 'worker-1' }],
    ['a text id', { ...base, id: '7', attached_node_name: 'worker-1' }],
    ['a fractional id', { ...base, id: 7.5, attached_node_name: 'worker-1' }],
  ])('refuses the whole result for a row with %s (the cycle fails, the host is kept)', (_label, raw) => {
    expect(() =>
      splitNodeRows([{ ...base, id: 1, attached_node_name: 'worker-1' }, raw], 'worker-1', []),
    ).toThrow(AgentError);
  });
});
