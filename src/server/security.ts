import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** Why a request was refused; `type` is the machine-readable error type in the JSON body. */
export interface Refusal {
  status: 401 | 403;
  type: 'forbidden_origin' | 'forbidden_host' | 'unauthorized';
  message: string;
}

export const TOKEN_COOKIE = 'cones_token';

/** True for names and addresses that only reach this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h.startsWith('::ffff:127.');
  return false;
}

/** Splits a Host header (`name:port`, `[v6]:port`) into hostname and the full lowercase netloc. */
function parseHost(host: string): { hostname: string; netloc: string } | null {
  try {
    const url = new URL(`http://${host}`);
    return { hostname: url.hostname, netloc: url.host.toLowerCase() };
  } catch {
    return null;
  }
}

/**
 * ComfyUI's origin rule: a request to a loopback Host whose Origin names another host:port is a
 * cross-site request from a web page and gets 403. Requests without Origin (scripts, SDKs) pass.
 * When `guardRebinding` (loopback bind without a token), a Host header that is not a loopback name
 * is also refused: a DNS-rebinding page sends its own name as both Host and Origin.
 */
export function checkOrigin(
  headers: { host?: string; origin?: string },
  options: { guardRebinding: boolean },
): Refusal | null {
  const host = parseHost(headers.host ?? '');
  if (options.guardRebinding && host && !isLoopbackHost(host.hostname)) {
    return { status: 403, type: 'forbidden_host', message: `Host '${host.hostname}' is not a loopback name` };
  }
  const origin = headers.origin;
  if (!origin || !host || !isLoopbackHost(host.hostname)) return null;
  let originNetloc: string;
  try {
    originNetloc = new URL(origin).host.toLowerCase();
  } catch {
    return { status: 403, type: 'forbidden_origin', message: `Malformed Origin '${origin}'` };
  }
  if (originNetloc === '' || originNetloc === host.netloc) return null;
  return {
    status: 403,
    type: 'forbidden_origin',
    message: `Cross-origin request from '${origin}' to '${host.netloc}' refused`,
  };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** The token a request presents: Bearer header, then `token` query parameter, then cookie. */
export function presentedToken(
  headers: { authorization?: string; cookie?: string },
  url: string,
): string | undefined {
  const auth = headers.authorization;
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  const query = url.indexOf('?');
  if (query >= 0) {
    const token = new URLSearchParams(url.slice(query + 1)).get('token');
    if (token !== null) return token;
  }
  return readCookie(headers.cookie, TOKEN_COOKIE);
}

export function checkToken(
  headers: { authorization?: string; cookie?: string },
  url: string,
  expected: string | undefined,
): Refusal | null {
  if (expected === undefined) return null;
  const given = presentedToken(headers, url);
  if (given === undefined) return { status: 401, type: 'unauthorized', message: 'Missing auth token' };
  if (!sameSecret(given, expected))
    return { status: 401, type: 'unauthorized', message: 'Invalid auth token' };
  return null;
}

/** Shortest auth token accepted: 16 random characters are beyond guessing over HTTP; shorter ones invite passwords. */
export const MIN_AUTH_TOKEN_LENGTH = 16;

/**
 * Why `token` cannot protect the service, or null. Printable ASCII only: an Authorization header
 * cannot carry anything else, and spaces at either end would be lost from a `Bearer` header.
 */
export function authTokenProblem(token: string): string | null {
  const rule = `an auth token needs at least ${MIN_AUTH_TOKEN_LENGTH} printable ASCII characters (e.g. \`openssl rand -hex 16\`)`;
  if (token.trim() === '') return `the auth token is blank; ${rule}`;
  if (!/^[\x20-\x7e]*$/.test(token))
    return `the auth token contains characters an HTTP header cannot carry (control or non-ASCII); ${rule}`;
  if (token !== token.trim()) return `the auth token starts or ends with spaces; ${rule}`;
  if (token.length < MIN_AUTH_TOKEN_LENGTH)
    return `the auth token is ${token.length} characters long; ${rule}`;
  return null;
}

/** Refuses to expose the service beyond loopback without a token unless the user insists. */
export function assertSafeBind(
  host: string,
  authToken: string | undefined,
  insecure: boolean | undefined,
): void {
  if (isLoopbackHost(host) || authToken || insecure) return;
  throw new Error(
    `Refusing to listen on '${host}' without --auth-token: anyone who can reach it could run prompts and read files. ` +
      'Pass --auth-token <secret>, or --insecure to accept the risk.',
  );
}

export interface RequestGuardOptions {
  authToken?: string;
  /** Refuse non-loopback Host headers (loopback bind without a token). */
  guardRebinding: boolean;
  /** `--enable-cors-header`: cross-origin requests are allowed (ComfyUI then skips its origin check). */
  corsOrigin?: string;
}

/** The one admission rule for HTTP requests and WebSocket handshakes. */
export function createRequestGuard(options: RequestGuardOptions) {
  return (
    headers: { host?: string; origin?: string; authorization?: string; cookie?: string },
    url: string,
  ): Refusal | null => {
    if (options.corsOrigin === undefined || options.guardRebinding) {
      const refusal = checkOrigin(
        { host: headers.host, origin: options.corsOrigin === undefined ? headers.origin : undefined },
        { guardRebinding: options.guardRebinding },
      );
      if (refusal) return refusal;
    }
    return checkToken(headers, url, options.authToken);
  };
}

export type RequestGuard = ReturnType<typeof createRequestGuard>;

/** ComfyUI's CORS headers for `--enable-cors-header`. */
export function corsHeaders(origin: string): Record<string, string> {
  return {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Methods': 'POST, GET, DELETE, PUT, OPTIONS, PATCH',
    'Access-Control-Allow-Headers': 'Content-Type, Authorization',
    'Access-Control-Allow-Credentials': 'true',
  };
}
