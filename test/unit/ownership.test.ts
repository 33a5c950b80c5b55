import { describe, expect, it } from 'vitest';
import { OWNERSHIP_HEADER, readOwnership, renderHeader } from '../../src/core/ownership.js';

describe('the owned file header', () => {
  it('records the row id and reads it back', () => {
    const content = `${renderHeader(42)}network:\n  version: 2\n`;
    expect(content.split('\n').slice(0, 2)).toEqual([OWNERSHIP_HEADER, '# multinic-agent format=2 row=42']);
    expect(readOwnership(content)).toEqual({ format: 2, rowId: 42 });
  });

  it.each<[string, string, ReturnType<typeof readOwnership>]>([
    ['format 1 (header line only)', `${OWNERSHIP_HEADER}\nnetwork:\n`, { format: 1, rowId: null }],
    [
      'a marker with a bad row id',
      `${OWNERSHIP_HEADER}\n# multinic-agent format=2 row=x\n`,
      { format: 2, rowId: null },
    ],
    ['a later format', `${OWNERSHIP_HEADER}\n# multinic-agent format=3 row=7\n`, { format: 3, rowId: 7 }],
    ['no header: not owned', 'network:\n  version: 2\n', null],
    ['the header not on the first line: not owned', `\n${OWNERSHIP_HEADER}\n`, null],
  ])('%s', (_label, content, expected) => {
    expect(readOwnership(content)).toEqual(expected);
  });

  it('refuses to write a header for something that is not a row id', () => {
    expect(() => renderHeader(-1)).toThrow(RangeError);
    expect(() => renderHeader(1.5)).toThrow(RangeError);
  });
});
