// silk.d.ts - the types of silk.js.

/** The subprotocol offered first: "silk.v1". */
export const SUBPROTOCOL: 'silk.v1';

/** silk's status names, indexed by number (STATUS[5] is "NOT_FOUND"). */
export const STATUS: readonly string[];

/** A failed call, or a session refused for good. */
export class SilkError extends Error {
  constructor(message: string, fields?: {
    status?: number;
    code?: number;
    validErrors?: ValidError[] | null;
    body?: unknown;
    cause?: unknown;
  });
  name: 'SilkError';
  /** The HTTP status; 0 when there was no answer. */
  status: number;
  /** silk's status number (the error body's "code"; from the HTTP status when it has none). */
  code: number;
  /** The status' name: "NOT_FOUND", "INVALID_ARGUMENT", ... */
  codeName: string;
  /** The gateway's validErrors (under --wrap-response, for INVALID_ARGUMENT), else null. */
  validErrors: ValidError[] | null;
  /** The parsed answer (text when it was not JSON). */
  body: unknown;
}

export interface ValidError {
  memberName: string | null;
  errorMessages: string[];
}

export interface Backoff {
  /** Milliseconds; the first attempt waits up to this. Default 500. */
  min?: number;
  /** Milliseconds; no wait is longer. Default 20000. */
  max?: number;
}

/** random(0, min(max, min * 2^attempt)) milliseconds, an integer; attempt 0 is the first retry. */
export function backoffDelay(attempt: number, backoff?: Backoff, random?: () => number): number;

export interface CallOptions {
  /** Sent as Authorization: Bearer <token>. */
  token?: string;
  /** Default globalThis.fetch. */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /** Sent as Idempotency-Key: a retried call with the same key pushes once. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** POSTs body as JSON to baseUrl + path; the parsed answer, or a SilkError. */
export function call<T = any>(baseUrl: string, path: string, body?: unknown,
                              options?: CallOptions): Promise<T>;

/** What connect() needs of a WebSocket class: the browser's, or Node's ws. */
export interface WebSocketLike {
  readonly protocol: string;
  binaryType: string;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onerror: ((ev: any) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  send(data: any): void;
  close(code?: number, reason?: string): void;
  /** Node's ws: 'unexpected-response' tells a refused handshake's HTTP status. */
  on?(event: string, listener: (...args: any[]) => void): unknown;
  terminate?(): void;
}

export type WebSocketClass = new (url: string, protocols?: string[]) => WebSocketLike;

export interface ConnectOptions {
  /** Sent as the businessId query parameter. */
  businessId?: string | number;
  /** Sent as the access_token query parameter. */
  token?: string;
  /** Asked for a token before the first attempt without one, and after a 4001 (token expired). */
  getToken?: () => string | Promise<string>;
  /** Offered after silk.v1. */
  subprotocols?: string[];
  /** Reconnect delays with full jitter: default {min: 500, max: 20000} ms. */
  backoff?: Backoff;
  /** Default globalThis.WebSocket; in Node 20 pass the ws package's class. */
  WebSocket?: WebSocketClass;
  /** Resume from a place saved earlier (session.epoch, session.offset). */
  since?: { epoch: string; offset: number };
  /** Milliseconds to wait for the welcome before giving up on an attempt. Default 10000. */
  openTimeout?: number;
  /** For tests: uniform in [0, 1). */
  random?: () => number;
  /** For tests: the clock. */
  setTimeout?: (fn: () => void, ms: number) => any;
  clearTimeout?: (handle: any) => void;
}

export interface OpenEvent {
  sessionId: string | null;
  epoch: string;
  /** The stream's last offset when the session opened. */
  offset: number;
  recovered: boolean;
  /** False the first time, true after a reconnect. */
  reconnect: boolean;
}

export interface PushEvent<D = string | Uint8Array> {
  /** Text, or the bytes of a binary push. */
  data: D;
  /** null for a push that is kept nowhere (to one session, or a route without history). */
  offset: number | null;
  epoch: string | null;
  binary: boolean;
}

export interface ReplyEvent {
  data: string | Uint8Array;
  binary: boolean;
}

export interface ReconnectingEvent {
  /** The close code (1006: the connection was lost or the handshake refused). */
  code: number;
  reason: string;
  /** The HTTP status of a refused handshake, when the WebSocket tells it. */
  status?: number;
  /** 1 for the first retry. */
  attempt: number;
  /** Milliseconds until it. */
  delay: number;
}

export interface RecoveredEvent {
  /** True when nothing was missed; false when pushes may have been (history gone, new epoch). */
  recovered: boolean;
  sessionId: string | null;
  epoch: string;
  /** The last offset seen. */
  offset: number;
}

export interface SessionCloseEvent {
  code: number;
  reason: string;
  /** The HTTP status of a refused handshake, when the WebSocket tells it. */
  status?: number;
  /** The refusal's parsed JSON body ({code, message}), when there was one. */
  body?: unknown;
  /** True when the session stopped by itself (refused); false after session.close(). */
  fatal: boolean;
}

export interface SessionErrorEvent {
  code?: number;
  reason: string;
  status?: number;
  body?: unknown;
  error?: unknown;
  fatal: boolean;
}

export interface SessionEvents {
  open: OpenEvent;
  push: PushEvent;
  reply: ReplyEvent;
  reconnecting: ReconnectingEvent;
  recovered: RecoveredEvent;
  error: SessionErrorEvent;
  close: SessionCloseEvent;
}

export class Session {
  constructor(url: string, options?: ConnectOptions);
  readonly url: string;
  /** The open session's id (null before the first welcome, or without silk.v1). */
  sessionId: string | null;
  /** The stream's epoch (null on a route without history). */
  epoch: string | null;
  /** The last offset seen. */
  offset: number;
  state: 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed';
  on<K extends keyof SessionEvents>(type: K, fn: (e: SessionEvents[K]) => void): this;
  off<K extends keyof SessionEvents>(type: K, fn: (e: SessionEvents[K]) => void): this;
  /** To the service's OnMessage hook; false when no session is open. */
  send(data: string | ArrayBufferView | ArrayBuffer): boolean;
  /** Stops for good. */
  close(): void;
}

/** Opens a session that reconnects until close() or a refusal for good. */
export function connect(url: string, options?: ConnectOptions): Session;
