import { Cmd } from './constants.ts';

const CMD_NAMES = new Map<number, string>(Object.entries(Cmd).map(([name, cmd]) => [cmd, name]));

/** A cmd's name for logs and metric labels (the number itself when unknown). */
export const cmdName = (cmd: number): string => CMD_NAMES.get(cmd) ?? String(cmd);
