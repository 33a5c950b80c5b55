import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Telemetry } from '../agent/telemetry.js';

export interface HttpOptions {
  telemetry: Telemetry;
  registry: Registry;
  port: number;
  host: string;
}

export interface HttpServer {
  /** The bound port (useful with port 0 in tests). */
  readonly port: number;
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * SPEC §8: `GET /` health JSON (200 healthy or degraded, 503 unhealthy), `/healthz` liveness, `/readyz`
 * readiness, `/metrics` Prometheus text. Unknown paths 404, other methods 405. Nothing secret is served.
 */
export async function startHttpServer(options: HttpOptions): Promise<HttpServer> {
  const { telemetry, registry } = options;
  const routes: Record<string, (res: ServerResponse) => Promise<void> | void> = {
    '/': (res) => {
      const body = telemetry.health();
      sendJson(res, body.status === 'unhealthy' ? 503 : 200, body);
    },
    '/healthz': (res) => {
      const verdict = telemetry.liveness();
      sendJson(res, verdict.ok ? 200 : 503, verdict);
    },
    '/readyz': (res) => {
      const verdict = telemetry.readiness();
      sendJson(res, verdict.ok ? 200 : 503, verdict);
    },
    '/metrics': async (res) => {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    },
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = routes[path];
    if (route === undefined) return sendJson(res, 404, { error: 'not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, { error: 'method not allowed' });
    }
    Promise.resolve(route(res)).catch(() => sendJson(res, 500, { error: 'internal error' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
