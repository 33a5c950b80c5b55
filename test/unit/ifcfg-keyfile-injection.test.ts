// SPEC §3 "bad input" for the RHEL formats, in two layers: the planner refuses every row carrying a
// newline, a quote, `$(id)` or a backtick in any text field (so no change is planned for it), and the
// renderers refuse any such value themselves (so a bug upstream still cannot write it). A MAC in `-`
// form is valid input, and reaches a file only as lower case with colons.
import { describe, expect, it } from 'vitest';
import { AgentError } from '../../src/core/errors.js';
import { parseIfcfg, renderIfcfg } from '../../src/core/ifcfg.js';
import { parseKeyfile, renderKeyfile } from '../../src/core/keyfile.js';
import { plan } from '../../src/core/plan.js';
import type { InterfaceRow, NicConfig } from '../../src/core/types.js';
import { configOf, inSync, linkOf, macOf, rowOf } from '../support/fixtures.js';

const PAYLOADS: [string, string][] = [
  ['a newline', '\nONBOOT=no'],
  ['a double quote', '"'],
  ['a single quote', "'"],
  ['a command substitution', '$(id)'],
  ['a backtick', '`id`'],
  ['a keyfile group', '\n[ipv6]'],
];

/** The error a renderer throws for the config (it must throw one). */
function renderFailure(render: (config: NicConfig, rowId: number) => string, config: NicConfig): AgentError {
  try {
    render(config, 1);
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error(`rendered ${JSON.stringify(config)}`);
}

const TEXT_FIELDS = ['macaddress', 'address', 'cidr', 'port_id', 'subnet_id', 'attached_node_name'] as const;

/** A row whose field carries the payload, appended to a value that is otherwise valid. */
function poisoned(field: (typeof TEXT_FIELDS)[number], payload: string): InterfaceRow {
  const row = rowOf(3);
  return { ...row, [field]: `${String(row[field])}${payload}` };
}

describe('layer 1: the planner refuses a row with shell or keyfile syntax in any text field', () => {
  const cases = TEXT_FIELDS.flatMap((field) =>
    PAYLOADS.map(([label, payload]) => [field, label, payload] as const),
  );
  it.each(cases)('%s with %s', (field, _label, payload) => {
    const { rows, observed } = inSync(3);
    observed.links.push(linkOf(configOf(3, { name: 'ens6' }), { ipv4: [] }));
    const bad = poisoned(field, payload);
    const result = plan([...rows, bad], observed);
    expect(result.changes).toEqual([]);
    const outcome = result.rows.find((row) => row.id === bad.id);
    expect(outcome).toMatchObject({ state: 'rejected', problem: { kind: 'invalid', field } });
  });
});

describe('layer 2: the renderers refuse the same values in every field they write', () => {
  const base = configOf(0);
  const fields: [string, (payload: string) => NicConfig][] = [
    ['name', (p) => ({ ...base, name: `multinic0${p}` })],
    ['mac', (p) => ({ ...base, mac: `${base.mac}${p}` })],
    ['address', (p) => ({ ...base, address: { ip: `10.0.0.10${p}`, prefix: 24 } })],
  ];
  const cases = fields.flatMap(([field, make]) =>
    PAYLOADS.map(([label, payload]) => [field, label, make(payload)] as const),
  );
  it.each(cases)('%s with %s', (_field, _label, config) => {
    for (const render of [renderIfcfg, renderKeyfile]) {
      expect(renderFailure(render, config).kind).toBe('render');
    }
  });
});

describe('a MAC in dash form', () => {
  it('is accepted by the planner and written lower case with colons, quoted, by both renderers', () => {
    const { rows, observed } = inSync(0);
    observed.links.push(linkOf(configOf(3, { name: 'ens6' }), { ipv4: [] }));
    const row = rowOf(3, { macaddress: macOf(3).toUpperCase().replace(/:/g, '-') });
    const [change] = plan([...rows, row], observed).changes;
    expect(change).toMatchObject({ kind: 'create', nic: { mac: macOf(3), name: 'multinic0' } });
    if (change === undefined || change.kind === 'remove') throw new Error('no create');
    const ifcfg = renderIfcfg(change.nic, 7);
    const keyfile = renderKeyfile(change.nic, 7);
    expect(ifcfg).toContain(`HWADDR="${macOf(3)}"\n`);
    expect(keyfile).toContain(`mac-address=${macOf(3)}\n`);
    for (const text of [ifcfg, keyfile]) expect(text).not.toMatch(/fa-16|FA-16|FA:16/);
    expect(parseIfcfg(ifcfg)?.mac).toBe(macOf(3));
    expect(parseKeyfile(keyfile)?.mac).toBe(macOf(3));
  });

  it('is refused by the renderers when it reaches them unnormalised', () => {
    const config = configOf(0, { mac: 'fa-16-3e-00-00-00' });
    expect(renderFailure(renderIfcfg, config).kind).toBe('render');
    expect(renderFailure(renderKeyfile, config).kind).toBe('render');
  });
});
