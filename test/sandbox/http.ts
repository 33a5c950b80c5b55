/**
 * HTTP GET from inside a sandbox: the agent's health server listens in the sandbox's network namespace,
 * which the test process cannot reach. The request is made by a short `node -e` run inside (node is
 * there for the agent anyway; curl may not be installed).
 */
import type { Sandbox } from './sandbox.js';

export interface HttpResponse {
  status: number;
  body: string;
}

// argv[1]: the URL, argv[2]: timeout in ms. Prints the status line, then the body.
const GET = `
const [url, timeout] = process.argv.slice(1);
const req = require('node:http').get(url, { timeout: Number(timeout) }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => (body += chunk));
  res.on('end', () => process.stdout.write(res.statusCode + '\\n' + body));
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => { process.stderr.write(String(err)); process.exit(1); });
`;

/** GET http://127.0.0.1:<port><path> inside the sandbox. Rejects when nothing answers (refused, timeout). */
export async function httpGet(
  sb: Sandbox,
  port: number,
  path: string,
  timeoutMs = 5_000,
): Promise<HttpResponse> {
  const url = `http://127.0.0.1:${port}${path}`;
  const result = await sb.exec(['node', '-e', GET, url, String(timeoutMs)]);
  if (result.code !== 0) throw new Error(`GET ${url} inside the sandbox failed: ${result.stderr.trim()}`);
  const newline = result.stdout.indexOf('\n');
  return { status: Number(result.stdout.slice(0, newline)), body: result.stdout.slice(newline + 1) };
}
