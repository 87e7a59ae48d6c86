import { lookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Where a webhook may not point: loopback, private, carrier-grade NAT, link-local (cloud
 * metadata services live there: 169.254.169.254, fd00:ec2::254), multicast, reserved and
 * unspecified addresses, in both families. BlockList checks an IPv4-mapped IPv6 address
 * (::ffff:127.0.0.1) against the IPv4 ranges; NAT64 addresses are refused whole, since they can
 * name any IPv4 one.
 */
const INTERNAL = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv6');
}

/** Whether an IP address is one a webhook may not reach. */
export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  return family === 0 || INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Why a webhook URL's host cannot be delivered to. */
export class RefusedAddress extends Error {
  constructor(host: string, address?: string) {
    super(
      address === undefined
        ? `${host} does not resolve to any address`
        : `${host} resolves to ${address}, a loopback, private, link-local or reserved address`,
    );
    this.name = 'RefusedAddress';
  }
}

/** A URL's host as an address or name: without the brackets of an IPv6 literal. */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * Resolves a host the way a connection does, and refuses it when any of its addresses is
 * internal (unless `allowPrivate`). Answers the addresses.
 */
export async function checkedAddresses(host: string, allowPrivate: boolean): Promise<Array<{ address: string; family: number }>> {
  const family = isIP(host);
  const addresses =
    family !== 0
      ? [{ address: host, family }]
      : await new Promise<Array<{ address: string; family: number }>>((resolve, reject) => {
          lookup(host, { all: true }, (error, found) => (error ? reject(error) : resolve(found)));
        }).catch(() => []);
  if (addresses.length === 0) throw new RefusedAddress(host);
  const internal = addresses.find(({ address }) => isInternalAddress(address));
  if (internal && !allowPrivate) throw new RefusedAddress(host, internal.address);
  return addresses;
}

/**
 * A `lookup` for the connections of a delivery: it resolves the host at connection time and
 * hands the socket only addresses it checked, so a name that changed to an internal address
 * since the endpoint was created is refused, and the socket connects to the address checked.
 */
export const checkingLookup =
  (allowPrivate: boolean): LookupFunction =>
  (host, options, callback) => {
    checkedAddresses(host, allowPrivate).then(
      (addresses) => {
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
