/** A group as routing needs it. */
export interface Group {
  id: number;
  appid: number;
  master: number;
  /** Super groups are fanned out by every server to its own members (PUBLISH_GROUP). */
  super: boolean;
  /** uid → muted. */
  members: Map<number, boolean>;
}

/** The group source failed or did not answer in time: a dependency's fault, not the request's. */
export class GroupSourceError extends Error {
  override readonly name = 'GroupSourceError';
  readonly code = 'ERR_GROUP_SOURCE';
}

export interface NewGroup {
  appid: number;
  master: number;
  name: string;
  notice: string;
  super: boolean;
  members: number[];
}

/**
 * Where group membership lives. The embedded default is SQLite; MySQL/MariaDB with
 * GoBelieve's schema lets an existing deployment's database serve unchanged.
 */
export interface GroupSource {
  /** The live group, or null when it does not exist (or was disbanded) in that app. */
  load(appid: number, id: number): Promise<Group | null>;
  /** Resolves when the source answers (for /healthz). */
  ping(): Promise<void>;
  create(g: NewGroup): Promise<number>;
  /** Each of these resolves false when the group does not exist in that app. */
  disband(appid: number, id: number): Promise<boolean>;
  addMembers(appid: number, id: number, uids: number[]): Promise<boolean>;
  removeMembers(appid: number, id: number, uids: number[]): Promise<boolean>;
  setMute(appid: number, id: number, uid: number, mute: boolean): Promise<boolean>;
  upgrade(appid: number, id: number): Promise<boolean>;
  close(): Promise<void>;
}

/** The reference schema (GoBelieve's `group` and `group_member` tables). */
export const GROUP_SCHEMA_MYSQL = [
  `CREATE TABLE IF NOT EXISTS \`group\` (
    \`id\` bigint(20) NOT NULL AUTO_INCREMENT,
    \`appid\` bigint(20) DEFAULT NULL,
    \`master\` bigint(20) DEFAULT NULL,
    \`super\` tinyint(4) NOT NULL DEFAULT '0',
    \`name\` varchar(255) DEFAULT NULL,
    \`notice\` varchar(255) DEFAULT NULL,
    \`deleted\` tinyint(1) NOT NULL DEFAULT '0',
    PRIMARY KEY (\`id\`)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS \`group_member\` (
    \`group_id\` bigint(20) NOT NULL DEFAULT '0',
    \`uid\` bigint(20) NOT NULL DEFAULT '0',
    \`timestamp\` int(11) DEFAULT NULL,
    \`nickname\` varchar(255) DEFAULT NULL,
    \`mute\` tinyint(1) DEFAULT '0',
    \`deleted\` tinyint(1) NOT NULL DEFAULT '0',
    PRIMARY KEY (\`group_id\`,\`uid\`)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
];
