import { TOKEN_COOKIE } from './security.js';

export const REDACTED = '[redacted]';

const TOKEN_FLAG = '--auth-token';
const TOKEN_ENV = 'CONES_AUTH_TOKEN';

// Places a secret sits in text whatever its value: `--auth-token X` / `--auth-token=X`,
// `CONES_AUTH_TOKEN=X`, `Bearer X`, a `token=` query parameter, the token cookie and a URL's password
// (`redis://user:X@host`, as `--queue` takes it). A token the
// server rejected is hidden too: it may be the caller's real one for another server.
const SECRET_SLOTS: RegExp[] = [
  new RegExp(`(${TOKEN_FLAG}(?:=|\\s+))(?:"[^"]*"|'[^']*'|\\S+)`, 'g'),
  new RegExp(`(${TOKEN_ENV}=)(?:"[^"]*"|'[^']*'|\\S+)`, 'g'),
  /(\bBearer\s+)[^\s,;"']+/gi,
  /((?:^|[?&;\s])token=)[^&#\s"']*/g,
  new RegExp(`(\\b${TOKEN_COOKIE}=)[^;\\s"']*`, 'g'),
  // The password of a URL's user info, e.g. `--queue redis://user:secret@host:6379`.
  /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+(?=@)/gi,
];

/**
 * The one place secrets are taken out of what the service shows or logs: the command line in
 * /system_stats, request URLs and errors in the `--log` output, error bodies. Built with the
 * configured secrets, which are removed wherever they occur (also percent-encoded), on top of the
 * token-shaped places above.
 */
export class Redactor {
  private readonly secrets: string[];

  constructor(secrets: Iterable<string | undefined>) {
    const forms = new Set<string>();
    for (const secret of secrets) {
      if (!secret) continue;
      forms.add(secret);
      forms.add(encodeURIComponent(secret));
    }
    // Longest first, so a secret that contains another is removed whole.
    this.secrets = [...forms].sort((a, b) => b.length - a.length);
  }

  text(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join(REDACTED);
    for (const slot of SECRET_SLOTS) out = out.replace(slot, `$1${REDACTED}`);
    return out;
  }

  /** A command line: the value after `--auth-token` is its own element. */
  argv(argv: readonly string[]): string[] {
    return argv.map((arg, i) => (i > 0 && argv[i - 1] === TOKEN_FLAG ? REDACTED : this.text(arg)));
  }

  /**
   * A request URL as logged. Query keys are compared decoded, as the token check reads them
   * (`?tok%65n=…` is a token too).
   */
  url(url: string): string {
    const q = url.indexOf('?');
    if (q < 0) return this.text(url);
    const query = url
      .slice(q + 1)
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        const key = eq < 0 ? pair : pair.slice(0, eq);
        return decodedKey(key) === 'token' ? `${key}=${REDACTED}` : pair;
      })
      .join('&');
    return this.text(`${url.slice(0, q)}?${query}`);
  }
}

function decodedKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}
