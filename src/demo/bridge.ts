/**
 * Runs inside the demo's sandbox: `node bridge.js SOCKET PORT` forwards each connection on the Unix socket
 * SOCKET to 127.0.0.1:PORT of the sandbox's network, where the agent serves health and metrics. The demo
 * listens on the machine's localhost and forwards to SOCKET, so the user's browser or curl reaches the
 * agent without any change to the machine's network (a path-named socket is not bound to a namespace).
 */
import { connect, createServer } from 'node:net';
import { pipeBoth } from './pipe.js';

const [socketPath, port] = process.argv.slice(2);
if (socketPath === undefined || !/^\d+$/.test(port ?? '')) {
  process.stderr.write('usage: bridge.js SOCKET PORT\n');
  process.exit(2);
}

createServer((client) => pipeBoth(client, connect(Number(port), '127.0.0.1'))).listen(socketPath);
