import { formatCidr } from '../core/ipv4.js';
import type { Ipv4Cidr } from '../core/types.js';
import type { CommandRunner } from './exec.js';

/**
 * Address clean-up the network daemons leave to us: networkd keeps an address that left the
 * configuration, and nothing flushes a link whose configuration was removed.
 */
export interface AddressTool {
  remove(linkName: string, address: Ipv4Cidr): Promise<void>;
  flush(linkName: string): Promise<void>;
}

export function createAddressTool(runner: CommandRunner): AddressTool {
  return {
    async remove(linkName, address) {
      await runner.run(['ip', 'addr', 'del', formatCidr(address), 'dev', linkName]);
    },
    async flush(linkName) {
      await runner.run(['ip', '-4', 'addr', 'flush', 'dev', linkName]);
    },
  };
}
