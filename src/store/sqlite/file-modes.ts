import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The SQLite file holds customer names, phones and confirmation bodies, so only its owner may read
 * it. The folder Confirma creates for it is 0700, and the database file is created 0600 before
 * SQLite opens it: SQLite gives the -wal and -shm files it makes the database file's mode, so this
 * one step covers all three. A database file (or -wal, -shm) that already exists with group or
 * other bits (made by an earlier version, or by hand) is tightened to its owner's bits; the paths
 * tightened are returned so the caller can say so. A folder that already exists is left alone: it
 * may be shared on purpose.
 */
export function secureDatabaseFiles(file: string): string[] {
  if (file === '' || file === ':memory:' || file.startsWith('file:')) return [];
  const abs = path.resolve(file);
  mkdirSync(path.dirname(abs), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(abs, 'wx', 0o600)); // an empty file is a new database to SQLite
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const tightened: string[] = [];
  for (const p of [abs, `${abs}-wal`, `${abs}-shm`]) {
    let mode: number;
    try {
      mode = statSync(p).mode;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if ((mode & 0o077) === 0) continue;
    chmodSync(p, mode & 0o700);
    tightened.push(p);
  }
  return tightened;
}
