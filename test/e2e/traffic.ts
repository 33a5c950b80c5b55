/**
 * Continuous traffic across sandbox NICs, to prove that something did not disturb them: each NIC's veth
 * peer is moved into a network namespace of its own inside the sandbox (a "switch port" on the other side
 * of the wire), a UDP sender there sends a numbered datagram to the NIC's address every 10 ms, and an echo
 * server on the node's side answers it. A datagram whose echo did not come back is lost: a flushed
 * address, a link set down, a renamed or restarted interface all lose some.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sandbox, SandboxProcess } from '../sandbox/sandbox.js';

/** One NIC to send across: its veth peer, the NIC's address, and the address the peer takes. */
export interface Path {
  peer: string;
  address: string;
  peerAddress: string;
  /** Prefix length of both addresses. */
  prefix: number;
}

export interface TrafficResult {
  /** Per NIC address: datagrams sent and echoes received. */
  byAddress: Record<string, { sent: number; received: number }>;
}

export interface Traffic {
  /** Stops sending, waits for the last echoes, and reports. The NICs stay as they are. */
  stop(): Promise<TrafficResult>;
}

const PORT = 47_000;

const ECHO = `
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', (msg, from) => socket.send(msg, from.port, from.address));
socket.bind(${PORT}, '0.0.0.0', () => console.log('ready'));
`;

// Sends "address seq" to every target every 10 ms; on the end of stdin stops, waits 500 ms, reports.
const SENDER = `
const targets = JSON.parse(process.argv[1]);
const socket = require('node:dgram').createSocket('udp4');
const counts = Object.fromEntries(targets.map((t) => [t, { sent: 0, received: 0, seen: new Set() }]));
socket.on('message', (msg) => {
  const [address, seq] = String(msg).split(' ');
  const entry = counts[address];
  if (entry !== undefined && !entry.seen.has(seq)) { entry.seen.add(seq); entry.received += 1; }
});
let seq = 0;
const timer = setInterval(() => {
  seq += 1;
  for (const t of targets) { counts[t].sent += 1; socket.send(t + ' ' + seq, ${PORT}, t); }
}, 10);
socket.bind(0, () => console.log('ready'));
process.stdin.resume();
process.stdin.on('end', () => {
  clearInterval(timer);
  setTimeout(() => {
    const byAddress = Object.fromEntries(targets.map((t) => [t, { sent: counts[t].sent, received: counts[t].received }]));
    console.log(JSON.stringify({ byAddress }));
    process.exit(0);
  }, 500);
});
`;

async function waitForLine(proc: SandboxProcess, text: string): Promise<void> {
  let output = '';
  proc.child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (let waited = 0; waited < 10_000; waited += 50) {
    if (output.includes(text)) return;
    await sleep(50);
  }
  throw new Error(`no "${text}" from the traffic process: ${(await proc.done).stderr}`);
}

/** Starts traffic across every path; the peers leave the sandbox's namespace for good. */
export async function startTraffic(sb: Sandbox, paths: readonly Path[]): Promise<Traffic> {
  const holder = sb.spawn(['unshare', '--net', 'sh', '-c', 'echo $$; exec sleep 100000'], {
    stdin: 'ignore',
  });
  let pid = '';
  holder.child.stdout?.on('data', (chunk: Buffer) => (pid += chunk.toString()));
  for (let waited = 0; !pid.includes('\n') && waited < 5_000; waited += 20) await sleep(20);
  pid = pid.trim();
  if (!/^\d+$/.test(pid)) throw new Error(`no namespace holder: ${(await holder.done).stderr}`);
  const inPeer = (argv: string[]) => ['nsenter', '-t', pid, '-n', ...argv];
  await sb.execOk(inPeer(['ip', 'link', 'set', 'lo', 'up']));
  for (const path of paths) {
    await sb.execOk(['ip', 'link', 'set', path.peer, 'netns', pid]);
    await sb.execOk(inPeer(['ip', 'addr', 'add', `${path.peerAddress}/${path.prefix}`, 'dev', path.peer]));
    await sb.execOk(inPeer(['ip', 'link', 'set', path.peer, 'up']));
  }
  const echo = sb.spawn(['node', '-e', ECHO], { stdin: 'ignore' });
  await waitForLine(echo, 'ready');
  const targets = JSON.stringify(paths.map((path) => path.address));
  const sender = sb.spawn(inPeer(['node', '-e', SENDER, targets]));
  await waitForLine(sender, 'ready');
  return {
    async stop() {
      sender.child.stdin?.end();
      const done = await sender.done;
      await echo.signal('SIGTERM');
      // The namespace holder stays: ending it would delete the peers, and with them the NICs (a veth
      // pair goes as a whole). It ends with the sandbox.
      const line = done.stdout.split('\n').find((text) => text.startsWith('{'));
      if (line === undefined) throw new Error(`traffic sender reported nothing: ${done.stderr}`);
      return JSON.parse(line) as TrafficResult;
    },
  };
}
