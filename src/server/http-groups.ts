import type http from 'node:http';
import { HttpError, intArrayField, intField, intParam, readBody, readJson, sendJson, stringField, type Handler } from '../http/json.ts';
import type { GroupService } from '../groups/service.ts';
import { GroupSend } from '../shard/groups.ts';
import { contentLimit } from './http-post.ts';
import type { PoolQueries } from './pool-queries.ts';

/** Most member ids one admin request may carry. */
const MAX_MEMBERS_PER_REQUEST = 10_000;

const ok = (res: http.ServerResponse, data: unknown = {}) => sendJson(res, 200, { data });

/** Group administration (create, disband, members, mute, upgrade) and POST /post_group_message. */
export function groupRoutes(groups: GroupService, pool: PoolQueries, maxBody: number): Record<string, Handler> {
  const post = (h: (body: Record<string, unknown>, res: http.ServerResponse) => Promise<void>): Handler => async (req, _url, res) => {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST');
    await h(await readJson(req), res);
  };
  const found = (res: http.ServerResponse, done: boolean) => {
    if (!done) throw new HttpError(404, 'no such group in that app');
    ok(res);
  };
  return {
    '/create_group': post(async (b, res) => {
      const appid = intField(b, 'appid');
      const master = intField(b, 'master');
      const members = intArrayField(b, 'members', MAX_MEMBERS_PER_REQUEST, false);
      const id = await groups.create({
        appid, master, name: stringField(b, 'name', ''), notice: stringField(b, 'notice', ''),
        super: b.super === true, members: members.includes(master) ? members : [master, ...members],
      });
      ok(res, { group_id: id });
    }),
    '/disband_group': post(async (b, res) => found(res, await groups.disband(intField(b, 'appid'), intField(b, 'group_id')))),
    '/add_group_member': post(async (b, res) =>
      found(res, await groups.addMembers(intField(b, 'appid'), intField(b, 'group_id'), intArrayField(b, 'members', MAX_MEMBERS_PER_REQUEST)))),
    '/remove_group_member': post(async (b, res) =>
      found(res, await groups.removeMembers(intField(b, 'appid'), intField(b, 'group_id'), intArrayField(b, 'members', MAX_MEMBERS_PER_REQUEST)))),
    '/mute_group_member': post(async (b, res) =>
      found(res, await groups.setMute(intField(b, 'appid'), intField(b, 'group_id'), intField(b, 'uid'), b.mute !== false))),
    '/upgrade_group': post(async (b, res) => found(res, await groups.upgrade(intField(b, 'appid'), intField(b, 'group_id')))),
    '/post_group_message': async (req, url, res) => {
      if (req.method !== 'POST') throw new HttpError(405, 'use POST');
      const appid = intParam(url, 'appid');
      const sender = intParam(url, 'sender');
      const gid = intParam(url, 'receiver');
      const content = await readBody(req, contentLimit(maxBody, 'group'));
      const r = await pool.post({ type: 'group', appid, sender, gid, content: new Uint8Array(content) });
      if (r === GroupSend.NO_GROUP) throw new HttpError(404, 'group does not exist');
      if (r === GroupSend.NOT_MEMBER) throw new HttpError(400, 'sender is not a member of the group');
      if (r === GroupSend.MUTED) throw new HttpError(400, 'sender is muted in the group');
      ok(res);
    },
  };
}
