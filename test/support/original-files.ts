/** Files as the original Go multinic-agent leaves them on a node (issue 14's facts), for takeover tests. */

/** As the original writes it (a YAML marshaller): keys sorted, 4-space indent, block list, MAC unquoted. */
export function goNetplan(name: string, mac: string, address: string | null, mtu = 1500): string {
  const addresses = address === null ? '' : `            addresses:\n            - ${address}\n`;
  return (
    'network:\n    ethernets:\n' +
    `        ${name}:\n${addresses}            dhcp4: false\n` +
    `            match:\n                macaddress: ${mac}\n            mtu: ${mtu}\n            set-name: ${name}\n` +
    '    version: 2\n'
  );
}

/** The seed's ifcfg example, unquoted. */
export function goIfcfg(name: string, mac: string, address: string | null, mtu = 1500): string {
  const ip = address === null ? [] : [`IPADDR=${address.split('/')[0]}`, `PREFIX=${address.split('/')[1]}`];
  return [
    `DEVICE=${name}`,
    `NAME=${name}`,
    'TYPE=Ethernet',
    'ONBOOT=yes',
    'BOOTPROTO=none',
    ...ip,
    `MTU=${mtu}`,
    `HWADDR=${mac}`,
    '',
  ].join('\n');
}
