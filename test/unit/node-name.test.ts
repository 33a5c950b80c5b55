import { describe, expect, it } from 'vitest';
import { nodeNameMatches } from '../../src/core/node-name.js';

describe('nodeNameMatches', () => {
  it.each([
    ['worker-1', 'worker-1', true],
    ['worker-1.novalocal', 'worker-1', true],
    ['worker-1', 'worker-1.novalocal', true],
    ['WORKER-1', 'worker-1', true],
    ['worker-10', 'worker-1', false],
    ['worker-1x.novalocal', 'worker-1', false],
    ['worker', 'worker-1', false],
    ['', 'worker-1', false],
  ])('%s vs %s → %s', (stored, node, expected) => {
    expect(nodeNameMatches(stored, node)).toBe(expected);
  });
});
