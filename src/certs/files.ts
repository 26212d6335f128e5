import { constants } from 'node:fs';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Issued, loadCa } from './authority.js';

/** Where a certificate and its key were written (absolute paths). */
export interface WrittenPair {
  readonly cert: string;
  readonly key: string;
}

/**
 * Writes NAME.crt (mode 0644) and NAME.key (mode 0600) into `dir`, creating it. Refuses to replace
 * existing files unless `overwrite`: a CA key written over by mistake invalidates every certificate it signed.
 */
export async function writePair(dir: string, name: string, pair: Issued, overwrite = false): Promise<WrittenPair> {
  const abs = resolve(dir);
  await mkdir(abs, { recursive: true });
  const cert = join(abs, `${name}.crt`);
  const key = join(abs, `${name}.key`);
  if (!overwrite) await assertFree(abs, [name]);
  // The key is created with 0600 from the start (no window where it is readable), then chmod in case
  // it existed before with a wider mode.
  await writeWithMode(key, pair.keyPem, 0o600);
  await writeWithMode(cert, pair.certificatePem, 0o644);
  return { cert, key };
}

/** Throws, naming the first, if any NAME.crt or NAME.key exists in `dir` (check before writing several pairs). */
export async function assertFree(dir: string, names: readonly string[]): Promise<void> {
  const abs = resolve(dir);
  for (const name of names) {
    for (const path of [join(abs, `${name}.crt`), join(abs, `${name}.key`)]) {
      if (await exists(path)) throw new Error(`${path} already exists; use --force to replace it`);
    }
  }
}

async function writeWithMode(path: string, text: string, mode: number): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  await chmod(path, mode);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Where a CA's files are: a folder holding ca.crt and ca.key, or the certificate file (key beside it as .key). */
export async function caFiles(location: string): Promise<WrittenPair> {
  const abs = resolve(location);
  let isDir = false;
  try {
    isDir = (await stat(abs)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`no CA at ${abs}; create one with "mozzie certs ca --out ${location}"`);
    }
    throw err;
  }
  if (isDir) return { cert: join(abs, 'ca.crt'), key: join(abs, 'ca.key') };
  return { cert: abs, key: `${abs.replace(/\.(crt|pem|cer)$/i, '')}.key` };
}

/** Reads and checks a CA (certificate and key). Errors name the file. */
export async function readCa(files: WrittenPair, passphrase?: string): Promise<Issued> {
  const read = async (what: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`CA ${what} ${path} not found; create a CA with "mozzie certs ca"`);
      throw new Error(`cannot read the CA ${what} ${path} (${code ?? String(err)})`);
    }
  };
  const [cert, key] = await Promise.all([read('certificate', files.cert), read('key', files.key)]);
  try {
    return loadCa(cert, key, passphrase);
  } catch (err) {
    throw new Error(`${files.cert}: ${(err as Error).message}`);
  }
}
