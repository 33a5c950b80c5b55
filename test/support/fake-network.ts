import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AgentError } from '../../src/core/errors.js';
import { parseCidr, sameCidr } from '../../src/core/ipv4.js';
import { parseNetplan } from '../../src/core/netplan.js';
import { isOwned } from '../../src/core/ownership.js';
import type { LiveLink } from '../../src/core/types.js';
import { createRunner, type CommandRunner, type Exit, type LongRunning } from '../../src/host/exec.js';

export interface FakeLink extends LiveLink {
  /** Largest MTU the "driver" accepts; a bigger one is silently not applied, as a real NIC would refuse it. */
  maxMtu: number;
}

/**
 * A stateful stand-in for the host's network, for the cycle's logic: `netplan apply` reads the netplan
 * files under the host root and changes the links the way networkd does (rename by MAC, MTU, add the
 * address, keep any old one); `ip addr del/flush` change them too. `netplan generate` is the real binary.
 * The full network stack is exercised by the sandbox suite.
 */
export class FakeNetwork implements CommandRunner {
  readonly links: FakeLink[];
  readonly commands: string[] = [];
  failApply = false;
  /** When true, `netplan apply` changes nothing (verification can never pass). */
  frozen = false;
  /** Runs at the start of every `netplan apply`: lets a test look at the agent mid-apply. */
  onApply: (() => Promise<void>) | null = null;
  private readonly real: CommandRunner;

  constructor(
    private readonly hostRoot: string,
    links: readonly LiveLink[],
  ) {
    this.links = links.map((link) => ({ ...link, ipv4: [...link.ipv4], maxMtu: 9000 }));
    this.real = createRunner({ prefix: [], defaultTimeoutMs: 30_000 });
  }

  get spawned(): number {
    return this.commands.length;
  }

  /** Commands seen so far that start with the given words. */
  count(...words: string[]): number {
    return this.commands.filter((command) => command.startsWith(words.join(' '))).length;
  }

  readLinks = (): Promise<LiveLink[]> =>
    Promise.resolve(this.links.map(({ maxMtu: _max, ...link }) => ({ ...link, ipv4: [...link.ipv4] })));

  link(mac: string): FakeLink {
    const found = this.links.find((link) => link.mac === mac);
    if (found === undefined) throw new Error(`no link with MAC ${mac}`);
    return found;
  }

  async run(argv: readonly string[]) {
    this.commands.push(argv.join(' '));
    const [tool, verb] = argv;
    if (tool === 'netplan' && verb === 'generate') return this.real.run(argv);
    if (tool === 'netplan' && verb === 'apply') {
      await this.onApply?.();
      return this.apply(argv);
    }
    if (tool === 'ip') return this.ip(argv);
    throw new AgentError('command_failed', `fake network: unexpected command ${argv.join(' ')}`);
  }

  /**
   * `netplan try`: applies like `apply`, marks itself ready, then SIGUSR1 keeps the configuration and
   * SIGINT restores the previous names and MTUs (addresses added meanwhile stay, as with networkd).
   */
  start(argv: readonly string[]): LongRunning {
    this.commands.push(argv.join(' '));
    if (argv[0] !== 'netplan' || argv[1] !== 'try') {
      throw new AgentError('command_failed', `fake network: unexpected long-running ${argv.join(' ')}`);
    }
    const snapshot = this.links.map((link) => ({ ...link, ipv4: [...link.ipv4] }));
    const ready = join(this.hostRoot, 'run', 'netplan', 'netplan-try.ready');
    let finish: (exit: Exit) => void = () => undefined;
    const exited = new Promise<Exit>((resolve) => (finish = resolve));
    void (this.onApply?.() ?? Promise.resolve()).then(() => {
      if (this.failApply) return finish({ code: 1, signal: null, stdout: '', stderr: 'boom' });
      if (!this.frozen) this.apply(argv);
      mkdirSync(dirname(ready), { recursive: true });
      writeFileSync(ready, '');
    });
    return {
      pid: 4242,
      exited,
      signal: (sig) => {
        rmSync(ready, { force: true });
        if (sig === 'SIGINT') this.revert(snapshot);
        finish({
          code: 0,
          signal: null,
          stdout: sig === 'SIGUSR1' ? 'Configuration accepted.\n' : 'Reverting.\n',
          stderr: '',
        });
      },
    };
  }

  private revert(snapshot: readonly FakeLink[]): void {
    for (const before of snapshot) {
      const link = this.links.find((l) => l.mac === before.mac);
      if (link === undefined) continue;
      link.name = before.name;
      link.mtu = before.mtu;
      for (const address of before.ipv4)
        if (!link.ipv4.some((a) => sameCidr(a, address))) link.ipv4.push(address);
    }
  }

  close(): Promise<void> {
    return this.real.close();
  }

  private apply(argv: readonly string[]) {
    if (this.failApply) {
      throw new AgentError('command_failed', 'netplan apply failed', {
        command: argv.join(' '),
        exitCode: 1,
        stderr: 'boom',
      });
    }
    if (this.frozen) return { stdout: '', stderr: '' };
    const dir = join(this.hostRoot, 'etc', 'netplan');
    for (const entry of readdirSync(dir)) {
      if (!entry.endsWith('.yaml')) continue;
      const content = readFileSync(join(dir, entry), 'utf8');
      const config = isOwned(content) ? parseNetplan(content) : null;
      const link = config === null ? undefined : this.links.find((l) => l.mac === config.mac);
      if (config === null || link === undefined) continue;
      link.name = config.name;
      if (config.mtu <= link.maxMtu) link.mtu = config.mtu;
      if (config.address !== null && !link.ipv4.some((a) => sameCidr(a, config.address)))
        link.ipv4.push(config.address);
    }
    return { stdout: '', stderr: '' };
  }

  private ip(argv: readonly string[]) {
    const name = argv.at(-1);
    const link = this.links.find((l) => l.name === name);
    if (link === undefined) throw new AgentError('command_failed', `ip: no device ${name}`, { exitCode: 1 });
    if (argv[1] === '-4' && argv[3] === 'flush') link.ipv4 = [];
    else if (argv[1] === 'addr' && argv[2] === 'del') {
      const address = parseCidr(argv[3] ?? '');
      link.ipv4 = link.ipv4.filter((a) => !sameCidr(a, address));
    } else throw new AgentError('command_failed', `fake network: unexpected ${argv.join(' ')}`);
    return { stdout: '', stderr: '' };
  }
}
