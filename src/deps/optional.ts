/**
 * Packages that only some configurations use, loaded by their first user: each thread that
 * imports one pays for it in heap whether it is used or not (ioredis ~2 MiB, mysql2 ~3 MiB,
 * pino-pretty ~1 MiB a thread, measured in bench/RESULTS.md). All three are CommonJS, so a
 * synchronous require keeps the callers' constructors synchronous.
 */
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import type * as Mysql from 'mysql2/promise';
import type PinoPretty from 'pino-pretty';

const require = createRequire(import.meta.url);

export const ioredis = (): typeof IORedis => require('ioredis') as typeof IORedis;
export const mysql2 = (): typeof Mysql => require('mysql2/promise') as typeof Mysql;
export const pinoPretty = (): typeof PinoPretty => require('pino-pretty') as typeof PinoPretty;
