import { networkInterfaces } from 'node:os';

/** Where a listening server can be reached, for banners and `RunningServer.url`. */
export interface ListenAddress {
  /** The address the socket is bound to, as the OS reports it (`0.0.0.0`, `::`, `127.0.0.1` …). */
  address: string;
  port: number;
  /** Bound to a wildcard address: every interface of the machine. */
  allInterfaces: boolean;
  /** A URL that reaches it from this machine (a wildcard bind is reached through loopback). */
  url: string;
  /** With a wildcard bind, URLs other machines can use (this machine's external addresses). */
  networkUrls: string[];
}

function urlOf(address: string, port: number): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

function externalAddresses(ipv6: boolean): string[] {
  const found: string[] = [];
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.internal) continue;
      if (entry.family === 'IPv4') found.push(entry.address);
      // Link-local IPv6 addresses need a zone id in the URL, which browsers do not accept.
      else if (ipv6 && !entry.address.toLowerCase().startsWith('fe80:')) found.push(entry.address);
    }
  }
  return found;
}

export function listenAddress(address: string, port: number): ListenAddress {
  const v4Wildcard = address === '0.0.0.0';
  const v6Wildcard = address === '::';
  if (!v4Wildcard && !v6Wildcard) {
    return { address, port, allInterfaces: false, url: urlOf(address, port), networkUrls: [] };
  }
  return {
    address,
    port,
    allInterfaces: true,
    url: urlOf(v4Wildcard ? '127.0.0.1' : '::1', port),
    networkUrls: externalAddresses(v6Wildcard).map((a) => urlOf(a, port)),
  };
}
