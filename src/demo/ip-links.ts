import { z } from 'zod';

/** One network interface as `ip -j addr` reports it, reduced to what the demo and the tests look at. */
export interface Link {
  name: string;
  mac: string;
  mtu: number;
  /** Administratively up (the UP flag), whatever the carrier. */
  up: boolean;
  ipv4: { ip: string; prefix: number }[];
}

const ipAddrJson = z.array(
  z.object({
    ifname: z.string(),
    address: z.string().optional(),
    mtu: z.number(),
    flags: z.array(z.string()),
    // Absent from `ip -j link`, which this parses as well.
    addr_info: z
      .array(z.object({ family: z.string(), local: z.string().optional(), prefixlen: z.number().optional() }))
      .default([]),
  }),
);

/** Parses the stdout of `ip -j addr` (or `ip -j link`, giving no addresses). */
export function parseIpAddr(stdout: string): Link[] {
  return ipAddrJson.parse(JSON.parse(stdout)).map((link) => ({
    name: link.ifname,
    mac: link.address ?? '',
    mtu: link.mtu,
    up: link.flags.includes('UP'),
    ipv4: link.addr_info.flatMap((a) =>
      a.family === 'inet' && a.local !== undefined && a.prefixlen !== undefined
        ? [{ ip: a.local, prefix: a.prefixlen }]
        : [],
    ),
  }));
}
