import { ResponseTooLargeError } from './body.js';
import { NetworkPolicyError } from './network-policy.js';
import { decodeObject } from './protobuf/decode.js';
import { ProxyTunnelError } from './transport.js';
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
  | 'NetworkNotAllowed'
  | 'ProxyRefused'
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

    // A request that accepts protobuf (a watch of a built-in kind) gets its error Status in it.
    const protobuf = header('content-type')?.startsWith('application/vnd.kubernetes.protobuf') === true;
    let parsed: unknown;
    try {
      if (protobuf && typeof body !== 'string') parsed = decodeObject(body).object;
      else parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const statusObject =
      typeof parsed === 'object' && parsed !== null && (parsed as { kind?: unknown }).kind === 'Status'
        ? (parsed as { reason?: unknown; message?: unknown })
        : undefined;
    if (statusObject) {
      const message = statusMessage(statusObject.message);
      return new KubeApiError(
        status,
        statusReason(statusObject.reason),
        `${what}: ${status} ${message}`.trimEnd(),
        retryAfter,
      );
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
/** The wait a Retry-After header asked for, in milliseconds (0 without one): what any retry of a
 * failed call waits at least, as client-go's clients do. */
export function retryAfterMs(err: unknown): number {
  return err instanceof KubeApiError && err.retryAfterSeconds ? err.retryAfterSeconds * 1000 : 0;
}

export function statusError(
  status: { code?: unknown; reason?: unknown; message?: unknown },
  what: string,
): KubeApiError {
  const code = typeof status.code === 'number' && status.code >= 100 && status.code < 600 ? status.code : 500;
  return new KubeApiError(
    code,
    statusReason(status.reason),
    `${what}: ${statusMessage(status.message) || 'error event'}`,
  );
}

/** A Status reason is a CamelCase word ("Forbidden", "Expired"); anything else is not one. */
function statusReason(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z]{1,64}$/.test(value) ? value : '';
}

/** A Status message as it may be shown (the server's text: bounded, one line that says what it
 * seems to say). Line breaks become spaces; other control and format characters (bidi
 * overrides…) go. */
function statusMessage(value: unknown): string {
  if (typeof value !== 'string') return '';
  const message = value
    .slice(0, 4096)
    .replace(/[\t\n\r]+/g, ' ')
    .replace(/[\p{Cc}\p{Cf}]/gu, '');
  return message.length > 1024 ? message.slice(0, 1023).replace(/[\uD800-\uDBFF]$/, '') + '…' : message;
}

/**
 * client-node's generated APIs throw ApiException, whose message carries the whole response
 * body and headers. Told apart by shape (importing client-node here would load it at start):
 * a numeric `code` plus `body` and `headers`.
 */
interface ApiExceptionLike {
  code: number;
  body: unknown;
  headers: unknown;
}

function isApiException(err: unknown): err is ApiExceptionLike {
  return (
    err instanceof Error &&
    typeof (err as Partial<ApiExceptionLike>).code === 'number' &&
    'body' in err &&
    'headers' in err
  );
}

/** The same failure as a KubeApiError: the Status message of its body when it is one, else
 * nothing of the body. */
function fromApiException(err: ApiExceptionLike): KubeApiError {
  const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body ?? '');
  return KubeApiError.fromResponse(err.code, {}, body, 'API call');
}

/** Whether `code` is the error's code or that of an error in its `cause` chain. */
function hasCode(err: unknown, code: string): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === code) return true;
  }
  return false;
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
  if (isApiException(err)) return failureReason(fromApiException(err));
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
  if (err instanceof MalformedWatchEventError) return 'Error';
  if (err instanceof NetworkPolicyError || hasCode(err, 'ERR_NETWORK_NOT_ALLOWED')) return 'NetworkNotAllowed';
  if (err instanceof ProxyTunnelError || hasCode(err, 'ERR_PROXY_TUNNEL')) return 'ProxyRefused';
  const name = (err as { name?: string } | undefined)?.name;
  if (name === 'TimeoutError') return 'Timeout';
  if (name === 'AbortError') return 'Aborted';
  const code = networkCode(err) ?? '';
  if (SERVER_CERT_CODES.test(code)) return 'ServerCertificateUntrusted';
  if (CLIENT_CERT_CODES.test(code)) return 'ClientCertificateRejected';
  // By code only: a message may name a path such as /apis/cert-manager.io/v1/certificates.
  if (TLS_CODES.test(code)) return 'TLSError';
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

/** client-node's refusal of an answer's media type, which it quotes from the server's header. */
const UNREADABLE_MEDIA_TYPE = /^The mediaType [\s\S]* is not supported by ObjectSerializer\.parse\.$/;

/** JSON.parse's error without the text it quotes (V8 shows the text around the error, and a
 * quote inside it would defeat any unquoting): only V8's own words and the position. */
function jsonSyntax(message: string): string {
  if (message.includes('Unexpected end of JSON input')) return 'Unexpected end of JSON input';
  const at = /at position (\d+)/.exec(message)?.[1];
  return at === undefined ? 'not valid JSON' : `not valid JSON at position ${at}`;
}

/** A one-line description for logs and conditions: never includes credentials (we only ever
 * put status text, error codes and messages of the apiserver in it), nor what a server sent
 * that a parser quoted (a typed api() call answered 2xx with a body that is not JSON, or with a
 * media type client-node cannot read). */
export function describeFailure(err: unknown): string {
  if (isApiException(err)) return describeFailure(fromApiException(err));
  const reason = failureReason(err);
  const message =
    err instanceof SyntaxError && err.message.includes('JSON')
      ? jsonSyntax(err.message)
      : err instanceof Error && UNREADABLE_MEDIA_TYPE.test(err.message)
        ? 'an answer has a media type the client cannot read'
        : err instanceof Error
          ? err.message
          : String(err);
  const code = networkCode(err);
  return code && !message.includes(code) ? `${reason}: ${message} (${code})` : `${reason}: ${message}`;
}

/** The cluster does not serve the apiVersion/kind a reconciler asked for (CRD missing…). */
export class KindNotServedError extends Error {
  override readonly name = 'KindNotServedError';
}
