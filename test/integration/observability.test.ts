import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loopDeps } from '../../src/commands.js';
import { runLoop } from '../../src/agent/loop.js';
import { createMetrics, describeMetrics } from '../../src/agent/metrics.js';
import type { HealthBody } from '../../src/agent/telemetry.js';
import type { LiveLink } from '../../src/core/types.js';
import { startHttpServer, type HttpServer } from '../../src/http/server.js';
import { insertPortRows, portNic, startHarness, type Harness } from '../support/agent-harness.js';
import { macOf } from '../support/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/mariadb.js';
import { parseProm, valueOf } from '../support/prom.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const PASSWORD = 'Obs-S3cret-never-shown';
let db: TestDatabase;
let proxy: TcpProxy;
let h: Harness;
let server: HttpServer;
let user: string;

async function get(path: string, method = 'GET') {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method });
  return { code: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}
async function metrics() {
  return parseProm((await get('/metrics')).text).samples;
}
async function health(): Promise<{ code: number; body: HealthBody }> {
  const res = await get('/');
  return { code: res.code, body: JSON.parse(res.text) as HealthBody };
}

async function start(links: LiveLink[]) {
  h = await startHarness(db, links, {
    DB_PORT: String(proxy.port),
    DB_USER: user,
    DB_PASSWORD: PASSWORD,
    DB_CONNECT_TIMEOUT: '1s',
  });
  server = await startHttpServer({
    telemetry: h.agent.telemetry,
    registry: h.agent.metrics.registry,
    port: 0,
    host: '127.0.0.1',
  });
}

beforeEach(async () => {
  db = await createTestDatabase('obs');
  user = `mn_${db.name.slice(-8)}`;
  await db.admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${PASSWORD}'`);
  await db.admin.query(`GRANT ALL ON \`${db.name}\`.* TO '${user}'@'%'`);
  proxy = await startTcpProxy(db.settings.host, db.settings.port);
});
afterEach(async () => {
  await server?.close();
  await h?.close();
  await proxy.close();
  await db.admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
  await db.drop();
});

describe('health JSON and probes', () => {
  it('reports the seed fields, the node, and one entry per NIC with desired and live state', async () => {
    await insertPortRows(db, 2);
    await start([portNic(0), portNic(1)]);
    expect((await get('/readyz')).code).toBe(503);
    expect(await h.tick()).toBe(true);
    const { code, body } = await health();
    expect(code).toBe(200);
    expect(body).toMatchObject({
      status: 'healthy',
      processed_vms: 2,
      failed_configs: 0,
      database_connected: true,
      node_name: 'worker-1',
      os_type: 'netplan',
      version: '0.1.0',
      backoff_level: 0,
    });
    expect(body.uptime).toMatch(/^(\d+h)?(\d+m)?\d+s$/);
    expect(body.last_sync).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(body.interfaces[0]).toEqual({
      id: expect.any(Number) as unknown,
      name: 'multinic0',
      mac: macOf(0),
      state: 'configured',
      desired: { address: '10.0.0.10/24', mtu: 1500 },
      live: { name: 'multinic0', addresses: ['10.0.0.10/24'], mtu: 1500 },
      last_error: null,
      last_error_at: null,
    });
    expect((await get('/readyz')).code).toBe(200);
    expect((await get('/healthz')).code).toBe(200);
  });

  it('answers 404 for unknown paths and 405 for other methods, and never shows the password', async () => {
    await insertPortRows(db, 1);
    await start([portNic(0)]);
    await h.tick();
    expect((await get('/nope')).code).toBe(404);
    const post = await get('/metrics', 'POST');
    expect(post.code).toBe(405);
    for (const path of ['/', '/healthz', '/readyz', '/metrics'])
      expect((await get(path)).text).not.toContain(PASSWORD);
    expect(JSON.stringify(h.logs)).not.toContain(PASSWORD);
  });

  it('a database outage keeps liveness, fails readiness, degrades health, backs off, then recovers', async () => {
    await insertPortRows(db, 1);
    await start([portNic(0)]);
    await h.tick();
    await proxy.down();
    const controller = new AbortController();
    let cycles = 0;
    const deps = loopDeps(h.agent, h.config, h.state, h.logger);
    await runLoop(
      {
        ...deps,
        sleep: () => {
          if ((cycles += 1) === 3) controller.abort();
          return Promise.resolve();
        },
      },
      controller.signal,
    );
    const during = await metrics();
    expect(valueOf(during, 'multinic_db_connection_status')).toBe(0);
    expect(valueOf(during, 'multinic_polling_backoff_level')).toBe(3);
    expect(valueOf(during, 'multinic_errors_total', { error_type: 'db_connection' })).toBe(3);
    expect((await get('/healthz')).code).toBe(200);
    expect((await get('/readyz')).code).toBe(503);
    expect((await health()).body).toMatchObject({
      status: 'degraded',
      database_connected: false,
      backoff_level: 3,
    });
    expect(h.logs.filter((l) => l.msg === 'cycle failed; host left as it is')).toHaveLength(1);
    expect(h.logs.find((l) => l.msg === 'cycle failed; host left as it is')).toMatchObject({
      error_type: 'db_connection',
    });
    expect(h.net.link(macOf(0)).ipv4).toHaveLength(1);

    await proxy.up();
    const recovered = await h.tick();
    expect(recovered).toBe(true);
    h.agent.telemetry.backoff(0);
    expect(valueOf(await metrics(), 'multinic_db_connection_status')).toBe(1);
    expect((await get('/readyz')).code).toBe(200);
    expect(h.logs.some((l) => l.msg === 'cycle succeeded again')).toBe(true);
  });
});

describe('every metric moves when its event happens', () => {
  it('processed, processing duration, cycles, cycle duration, concurrent tasks, info, db query duration', async () => {
    await insertPortRows(db, 10);
    await start(Array.from({ length: 10 }, (_, n) => portNic(n)));
    const before = await metrics();
    expect(valueOf(before, 'multinic_interfaces_processed_total', { status: 'success' })).toBe(0);
    await h.tick();
    await h.tick();
    const after = await metrics();
    expect(valueOf(after, 'multinic_interfaces_processed_total', { status: 'success' })).toBe(10);
    expect(
      valueOf(after, 'multinic_interface_processing_duration_seconds_count', {
        interface_name: 'multinic3',
        status: 'success',
      }),
    ).toBe(1);
    expect(valueOf(after, 'multinic_polling_cycles_total')).toBe(2);
    expect(valueOf(after, 'multinic_polling_cycle_duration_seconds_count')).toBe(2);
    expect(valueOf(after, 'multinic_concurrent_tasks')).toBe(0);
    expect(
      valueOf(after, 'multinic_agent_info', { version: '0.1.0', os_type: 'netplan', node_name: 'worker-1' }),
    ).toBe(1);
    expect(valueOf(after, 'multinic_db_query_duration_seconds_count', { operation: 'select_rows' })).toBe(2);
    expect(valueOf(after, 'multinic_db_query_duration_seconds_count', { operation: 'update_status' })).toBe(
      1,
    );
    expect(valueOf(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('concurrent tasks shows the changes in flight during the apply', async () => {
    await insertPortRows(db, 3);
    await start([portNic(0), portNic(1), portNic(2)]);
    let inFlight: number | undefined;
    h.net.onApply = async () => {
      inFlight = valueOf(await metrics(), 'multinic_concurrent_tasks');
    };
    await h.tick();
    expect(inFlight).toBe(3);
  });

  it('drifts by type, and orphan deletions', async () => {
    const ids = await insertPortRows(db, 2);
    await start([portNic(0), portNic(1)]);
    await h.tick();
    h.net.link(macOf(0)).mtu = 1400;
    await h.tick();
    expect(valueOf(await metrics(), 'multinic_configuration_drifts_total', { drift_type: 'live_mtu' })).toBe(
      1,
    );
    await db.admin.query('DELETE FROM multi_interface WHERE id = ?', [ids[1]]);
    await h.tick();
    expect(valueOf(await metrics(), 'multinic_orphaned_interfaces_deleted_total')).toBe(0);
    await h.tick();
    const m = await metrics();
    expect(valueOf(m, 'multinic_orphaned_interfaces_deleted_total')).toBe(1);
    expect(valueOf(m, 'multinic_configuration_drifts_total', { drift_type: 'orphan' })).toBe(1);
  });

  it('a failed apply: failed counter, error by type, degraded health with the reason and when', async () => {
    const [id] = await insertPortRows(db, 1);
    await start([portNic(0)]);
    h.net.failApply = true;
    // The cycle itself ran: the loop keeps its pace, the failed change backs off on its own.
    expect(await h.tick()).toBe(true);
    const m = await metrics();
    expect(valueOf(m, 'multinic_interfaces_processed_total', { status: 'failed' })).toBe(1);
    expect(valueOf(m, 'multinic_errors_total', { error_type: 'command_failed' })).toBe(1);
    const { code, body } = await health();
    expect(code).toBe(200);
    expect(body).toMatchObject({ status: 'degraded', failed_configs: 1, processed_vms: 0 });
    expect(body.interfaces[0]).toMatchObject({ id, state: 'failed', live: { name: 'ens3' } });
    expect(body.interfaces[0]?.last_error).toContain('netplan apply failed');
    expect(body.interfaces[0]?.last_error_at).toMatch(/^\d{4}-/);
    // Tried again in the next cycle, then held for one: health keeps the time of the failure.
    expect(await h.tick()).toBe(true);
    const failedAt = (await health()).body.interfaces[0]?.last_error_at;
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await h.tick()).toBe(true);
    const held = (await health()).body;
    expect(held.backoff_level).toBe(0);
    expect(held.interfaces[0]).toMatchObject({ state: 'failed', last_error_at: failedAt });
    expect(held.interfaces[0]?.last_error).toMatch(/failed 2×; not tried again for 1 cycle\(s\)/);
    expect(valueOf(await metrics(), 'multinic_interfaces_processed_total', { status: 'failed' })).toBe(2);
  });

  it('a bad row counts one validation error, not one per cycle', async () => {
    await db.insertRow({ macaddress: macOf(0), address: '10.0.0.10', cidr: '10.0.0.0/24', mtu: 0 });
    await start([portNic(0)]);
    await h.tick();
    await h.tick();
    expect(valueOf(await metrics(), 'multinic_errors_total', { error_type: 'validation' })).toBe(1);
    expect((await health()).body.interfaces[0]).toMatchObject({
      state: 'invalid',
      last_error: expect.stringContaining('MTU') as unknown,
    });
  });
});

describe('README metric table', () => {
  it('lists exactly the metrics the agent exposes, with their types and labels', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `(multinic_\w+)` \| (\w+) \|([^|]*)\|/gm)].map((m) => ({
      name: m[1],
      type: m[2]!.toLowerCase(),
      labels: [...m[3]!.matchAll(/`(\w+)`/g)].map((l) => l[1]),
    }));
    const actual = (await describeMetrics(createMetrics({ version: 'x', osType: 'x', nodeName: 'x' }))).map(
      (m) => ({
        name: m.name,
        type: m.type,
        labels: m.labels,
      }),
    );
    expect(rows).toEqual(actual);
  });
});
