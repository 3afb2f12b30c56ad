/**
 * The stores of an example web service, shared by every worker thread of the process.
 *
 * After editing, regenerate the facades (committed next to this file):
 *   npx native-keyshare codegen codegen/example/schema.ts --out codegen/example/stores.ts
 */
import type { FixedString, Int32, Uint32 } from 'native-keyshare';
import type { Address } from './geo';

// ── Key parts: a type alias names the facade's parameter (`UserId` → `userId`) ─────────────

export type UserId = number;
export type SessionId = string;
export type Locale = 'en' | 'fr' | 'de';
export type ClientIp = string;
export type PlayerId = number;
/** Start of a rate-limit window, in epoch seconds. */
export type WindowStart = number;

// ── Values ───────────────────────────────────────────────────────────────────────────────

export type Role = 'admin' | 'editor' | 'viewer';

/** A registered user. */
export interface User {
  readonly id: UserId;
  /** Display name. */
  name: string;
  email: string | null;
  role: Role;
  tags: string[];
  address?: Address;
  createdAt: Date;
  /** Feature flags turned on for this user. */
  flags: Set<string>;
}

/** A logged-in session. */
export interface Session {
  userId: UserId;
  /** When the session was opened (epoch milliseconds). */
  openedAt: number;
  ip: ClientIp;
  /** Requests per route during this session. */
  hits: Map<string, number>;
}

export interface CartItem {
  sku: string;
  quantity: number;
  /** Unit price in cents. */
  unitPrice: number;
}

/** A shopping cart. */
export interface Cart {
  items: CartItem[];
  currency: 'EUR' | 'USD';
  coupon?: string;
}

export interface RateWindow {
  count: number;
  blocked: boolean;
}

export type Team = 'red' | 'blue';

/**
 * A player of a game, updated many times a second by every thread: all its fields have a fixed
 * size, so the store lays it out as a record (fields read and changed in place).
 */
export interface PlayerStats {
  x: number;
  y: number;
  /** Hit points. */
  hp: Int32;
  score: Uint32;
  alive: boolean;
  team: Team;
  /** Display name, at most 16 bytes of UTF-8. */
  name: FixedString<16>;
  pos: [x: number, y: number];
}

// ── The stores ───────────────────────────────────────────────────────────────────────────

export interface Stores {
  /** Registered users, by id. */
  users: { key: `user:${UserId}`; value: User; minBufferSize: 256 };
  /** Login sessions; they expire after 30 minutes unless refreshed. */
  sessions: { key: `session:${SessionId}`; value: Session; ttl: 1800 };
  /** One cart per user and locale, kept for a day. */
  carts: { key: `cart:${UserId}:${Locale}`; value: Cart; ttl: 86400 };
  /** Requests per client and one-minute window. */
  'rate-limits': { key: `rate:${ClientIp}:${WindowStart}`; value: RateWindow; ttl: 120 };
  /** Site-wide settings. */
  settings: { key: 'motd' | 'maintenance'; value: string };
  /** Counters every thread updates; read on hot paths. */
  counters: { key: string; value: number; hotReads: true };
  /** Live players: a fixed-layout record per player. */
  players: { key: `player:${PlayerId}`; value: PlayerStats };
}
