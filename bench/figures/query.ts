/**
 * Figure 6: the store's per-node query (rowsForNode) on a table of 50,000 rows (5,000 nodes × 10), with
 * and without the shipped index (sql/index.sql), on the local MariaDB (127.0.0.1:3306, a scratch database
 * dropped after). EXPLAIN runs on the very statement the store sent.
 */
import { performance } from 'node:perf_hooks';
import type { RowDataPacket } from 'mysql2/promise';
import { createTestDatabase, type TestDatabase } from '../../test/support/mariadb.js';
import { createMysqlStore, type DesiredStore } from '../../src/store/mysql.js';
import { captureStatements, inline } from '../support/capture.js';
import { info, line, type FigureResult } from '../support/report.js';
import { PORTS_PER_NODE, fleetRowIds, loadFleet, nodeName } from '../support/rows.js';
import { SCALE } from '../support/scale.js';
import { count, median, ms, quantile } from '../support/stats.js';

const INDEX = 'idx_multi_interface_attached_node_name';

async function sample(store: DesiredStore, nodes: number, samples: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples; i += 1) {
    const n = Math.floor(Math.random() * nodes);
    const name = nodeName(n);
    const start = performance.now();
    // As the agent asks: with the ids its owned files name (issue 12), in the same statement.
    const { rows, elsewhere } = await store.rowsForNode(name, fleetRowIds(n, nodes));
    times.push(performance.now() - start);
    if (rows.length !== PORTS_PER_NODE || elsewhere.length > 0)
      throw new Error(`${name}: ${rows.length} rows`);
  }
  return times;
}

async function explain(db: TestDatabase, statement: string): Promise<string> {
  const [rows] = await db.admin.query<RowDataPacket[]>(`EXPLAIN ${statement}`);
  return rows
    .map(
      (r) =>
        `${String(r['table'])}: type=${String(r['type'])} key=${String(r['key'])} rows=${String(r['rows'])}`,
    )
    .join('; ');
}

export async function run(): Promise<FigureResult> {
  const db = await createTestDatabase('bench_query');
  const capture = captureStatements(/FROM multi_interface mi/);
  const store = createMysqlStore(db.settings);
  try {
    const total = await loadFleet(db.admin, SCALE.queryNodes);
    await db.admin.query('ANALYZE TABLE multi_interface');
    await sample(store, SCALE.queryNodes, 50); // warm-up: buffer pool, pool connection, subnet probe
    const indexed = await sample(store, SCALE.queryNodes, SCALE.querySamples);
    const sent = capture.last();
    if (sent === undefined) throw new Error('the store sent no per-node query');
    const withPlan = await explain(db, inline(sent));

    await db.admin.query(`DROP INDEX ${INDEX} ON multi_interface`);
    await db.admin.query('ANALYZE TABLE multi_interface');
    await sample(store, SCALE.queryNodes, 5);
    const scanned = await sample(store, SCALE.queryNodes, SCALE.querySamplesNoIndex);
    const withoutPlan = await explain(db, inline(sent));
    const m = median(indexed);
    return {
      id: '6',
      title: `per-node query (store.rowsForNode) at ${count(total)} rows (${count(SCALE.queryNodes)} nodes × 10)`,
      lines: [
        line(`with index, median of ${count(indexed.length)}`, ms(m, 3), '≤ 2 ms', m <= 2),
        info('with index, p99', ms(quantile(indexed, 0.99), 3)),
        info(`without index, median of ${count(scanned.length)}`, ms(median(scanned), 3)),
        info('without index, p99', ms(quantile(scanned, 0.99), 3)),
        info('EXPLAIN with index', withPlan),
        info('EXPLAIN without index', withoutPlan),
      ],
      notes: [
        'local MariaDB on 127.0.0.1:3306 as configured on this machine; latency is the store call as the' +
          ' agent makes it (pool, round trip, row conversion, node-name filter), random node each time',
        `statement: ${sent.sql}`,
      ],
    };
  } finally {
    capture.stop();
    await store.close();
    await db.drop();
  }
}
