import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type * as ClientNode from '@kubernetes/client-node';
import type { RequestContext, ResponseContext } from '@kubernetes/client-node';

/** The configuration client-node's generated API classes (CoreV1Api, …) are built with. */
export type GeneratedConfiguration = ReturnType<typeof ClientNode.createConfiguration>;
export type ApiConstructor<T> = new (config: GeneratedConfiguration) => T;

/** One HTTP exchange as our client performs it for a generated API call. */
export interface TypedCall {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** The generated API's own signal, if it passed one. */
  signal?: AbortSignal;
}

export interface TypedAnswer {
  status: number;
  headers: Record<string, string>;
  /** The whole body, already read within the client's size limit. */
  body: Buffer;
}

let clientNode: typeof ClientNode | undefined;

/** client-node, loaded on the first typed call: a process that never makes one (the ready-made
 * app) does not carry its ~55 MiB. By then the caller has imported it for its API class anyway.
 * require() of the ES module is synchronous (it has no top-level await). */
function load(): typeof ClientNode {
  clientNode ??= createRequire(import.meta.url)('@kubernetes/client-node') as typeof ClientNode;
  return clientNode;
}

/**
 * Routes client-node's generated API classes through our client: its own request path builds a
 * new HTTP agent per request (no connection reuse, nothing that can be closed) and reads bodies
 * without a size limit. Authentication happens in `send`.
 */
export function generatedConfiguration(
  server: string,
  send: (call: TypedCall) => Promise<TypedAnswer>,
): GeneratedConfiguration {
  const { createConfiguration, ResponseContext: Response, ServerConfiguration, wrapHttpLibrary } = load();
  const http = {
    send: async (req: RequestContext): Promise<ResponseContext> => {
      const answer = await send({
        method: req.getHttpMethod().toString(),
        url: req.getUrl(),
        headers: req.getHeaders(),
        body: req.getBody() as string | undefined,
        signal: req.getSignal() ?? undefined,
      });
      return new Response(answer.status, answer.headers, {
        text: () => Promise.resolve(answer.body.toString('utf8')),
        binary: () => Promise.resolve(answer.body),
        stream: () => Readable.from([answer.body]) as never,
      });
    },
  };
  return createConfiguration({
    baseServer: new ServerConfiguration(server, {}),
    authMethods: { default: { getName: () => 'clusterregistry', applySecurityAuthentication: () => undefined } },
    httpApi: wrapHttpLibrary(http),
  });
}
