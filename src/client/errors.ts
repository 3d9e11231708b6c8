import { ResponseTooLargeError } from './body.js';
import { MalformedWatchEventError } from './watch-decoder.js';

/** Why a request to a cluster failed, in words an operator can act on. The `reason` values
 * double as condition reasons and metric labels, so they are few and stable. */
export type FailureReason =
  | 'Unreachable'
  | 'ServerCertificateUntrusted'
  | 'ClientCertificateRejected'
  | 'TLSError'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'Gone'
  | 'Conflict'
  | 'TooManyRequests'
  | 'ServerError'
  | 'Timeout'
  | 'Aborted'
  | 'KindNotServed'
  | 'ResponseTooLarge'
  | 'Error';

/** A non-2xx answer of a kube-apiserver, with the Status object's reason and message. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';

  constructor(
    readonly status: number,
    /** metav1.Status reason, e.g. "Forbidden", "Expired", "NotFound". */
    readonly statusReason: string,
    message: string,
    /** Seconds from a Retry-After header (429 and some 5xx). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /**
   * The error for a non-2xx answer, from a body already read with readBounded. Only the `message`
   * (and a well-formed `reason`) of a Kubernetes Status object is taken from the body: anything
   * else, such as an internal service's error page behind a misdirected kubeconfig, may hold
   * secrets that would end up in conditions and logs. Then the message names the request, the
   * HTTP status, the content type and the size, and no byte of the body.
   */
  static fromResponse(
    status: number,
    headers: Record<string, string | string[] | undefined>,
    body: Buffer | string,
    what: string,
  ): KubeApiError {
    const header = (name: string): string | undefined => {
      const value = headers[name];
      return Array.isArray(value) ? value[0] : value;
    };

    // Retry-After as delay-seconds only (an HTTP date or garbage is ignored), capped so a hostile
    // server cannot park a retry loop for hours.
    const retryAfterText = header('retry-after')?.trim() ?? '';
    const retryAfter = /^\d{1,10}$/.test(retryAfterText) ? Math.min(Number(retryAfterText), 600) : undefined;

    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const statusObject =
      typeof parsed === 'object' && parsed !== null && (parsed as { kind?: unknown }).kind === 'Status'
        ? (parsed as { reason?: unknown; message?: unknown })
        : undefined;
    if (statusObject) {
      // A reason is a CamelCase word ("Forbidden", "Expired"); anything else is not one.
      const reason =
        typeof statusObject.reason === 'string' && /^[A-Za-z]{1,64}$/.test(statusObject.reason)
          ? statusObject.reason
          : '';
      let message = typeof statusObject.message === 'string' ? statusObject.message.slice(0, 4096) : '';
      // Line breaks become spaces, other control and format characters (bidi overrides…) go:
      // one line that says what it seems to say.
      message = message.replace(/[\t\n\r]+/g, ' ').replace(/[\p{Cc}\p{Cf}]/gu, '');
      if (message.length > 1024) message = message.slice(0, 1023).replace(/[\uD800-\uDBFF]$/, '') + '…';
      return new KubeApiError(status, reason, `${what}: ${status} ${message}`.trimEnd(), retryAfter);
    }

    // The media type only, and only when it looks like one: the header is the server's text too.
    const mediaType = header('content-type')?.split(';')[0]?.trim().toLowerCase() ?? '';
    const contentType = !mediaType
      ? 'no content type'
      : /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,64}$/.test(mediaType)
        ? mediaType
        : 'invalid content type';
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    return new KubeApiError(status, '', `${what}: HTTP ${status} (${contentType}, ${size} bytes)`, retryAfter);
  }
}

/** An error of a Status object sent inside a watch stream (an ERROR event). */
export function statusError(
  status: { code?: unknown; reason?: unknown; message?: unknown },
  what: string,
): KubeApiError {
  const code = typeof status.code === 'number' && status.code >= 100 && status.code < 600 ? status.code : 500;
  const reason = typeof status.reason === 'string' ? status.reason.slice(0, 64) : '';
  const message = typeof status.message === 'string' ? cleanStatusMessage(status.message) : 'error event';
  return new KubeApiError(code, reason, `${what}: ${message}`);
}

/** A Status message as it may be shown: bounded, on one line, no control characters. */
export function cleanStatusMessage(message: string): string {
  // eslint-disable-next-line no-control-regex
  return message.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 1024);
}

/** The error code of a Node/undici network error, looking through `cause` chains. */
function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** We could not verify the server: wrong CA in the kubeconfig, wrong name, expired. */
const SERVER_CERT_CODES = /^(UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|CERT_|ERR_TLS_CERT_ALTNAME_INVALID)/;
/** The server refused our client certificate during the handshake. */
const CLIENT_CERT_CODES =
  /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|DECRYPT_ERROR)/;
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|ERR_OSSL)/;

/** Sorts any failure of a cluster request into a FailureReason. */
export function failureReason(err: unknown): FailureReason {
  if (err instanceof KubeApiError) {
    switch (err.status) {
      case 401:
        return 'Unauthorized';
      case 403:
        return 'Forbidden';
      case 404:
        return 'NotFound';
      case 409:
        return 'Conflict';
      case 410:
        return 'Gone';
      case 429:
        return 'TooManyRequests';
      default:
        return err.status >= 500 ? 'ServerError' : 'Error';
    }
  }
  if (err instanceof KindNotServedError) return 'KindNotServed';
  // A watch event too large (WatchEventTooLargeError) is one of these too.
  if (err instanceof ResponseTooLargeError) return 'ResponseTooLarge';
  // Said before the message checks below: a path like /apis/cert-manager.io/v1/certificates is no TLS error.
  if (err instanceof MalformedWatchEventError) return 'Error';
  const name = (err as { name?: string } | undefined)?.name;
  if (name === 'TimeoutError') return 'Timeout';
  if (name === 'AbortError') return 'Aborted';
  const code = networkCode(err) ?? '';
  if (SERVER_CERT_CODES.test(code)) return 'ServerCertificateUntrusted';
  if (CLIENT_CERT_CODES.test(code)) return 'ClientCertificateRejected';
  if (TLS_CODES.test(code) || /certificate|tls|ssl/i.test(String((err as Error | undefined)?.message)))
    return 'TLSError';
  if (
    /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|UND_ERR_SOCKET|UND_ERR_CLOSED/.test(
      code,
    )
  ) {
    return 'Unreachable';
  }
  if (/UND_ERR_(CONNECT|HEADERS|BODY)_TIMEOUT|ETIMEDOUT/.test(code)) return 'Timeout';
  return 'Error';
}

/** A one-line description for logs and conditions: never includes credentials (we only ever
 * put status text, error codes and messages of the apiserver in it). */
export function describeFailure(err: unknown): string {
  const reason = failureReason(err);
  const message = err instanceof Error ? err.message : String(err);
  const code = networkCode(err);
  return code && !message.includes(code) ? `${reason}: ${message} (${code})` : `${reason}: ${message}`;
}

/** The cluster does not serve the apiVersion/kind a reconciler asked for (CRD missing…). */
export class KindNotServedError extends Error {
  override readonly name = 'KindNotServedError';
}
