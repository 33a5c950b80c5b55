import type { Socket } from 'node:net';

/** Pipes a and b into each other; an error or close on either side ends both. */
export function pipeBoth(a: Socket, b: Socket): void {
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.pipe(b).pipe(a);
  for (const socket of [a, b]) {
    socket.on('error', end);
    socket.on('close', end);
  }
}
