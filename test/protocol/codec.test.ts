import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLIENT_CMDS, Cmd, MESSAGES, ProtocolError, ROUTER_CMDS, SERVER_CMDS, codecs, encodeFrame,
  parseFrame, type Frame, type MessageCodec, type MessageName,
} from '../../src/protocol/index.ts';

const decodeBody = <T>(codec: MessageCodec<T>, f: Frame) => codec.forVersion(f.version).decode(f.body, 0, f.body.length);

/** Hex with spaces and comments stripped: vectors are written field by field. */
const hex = (s: string) => Buffer.from(s.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex');

function roundTrip<K extends MessageName>(name: K, msg: unknown, version: number, golden: string, seq = 1, flag = 0): void {
  const codec = codecs[name];
  const bytes = encodeFrame(codec, msg as never, seq, version, flag);
  assert.is(bytes.toString('hex'), hex(golden).toString('hex'), `${name} v${version} encodes to the golden bytes`);
  const frame = parseFrame(bytes) as Frame;
  assert.not.instance(frame, ProtocolError);
  assert.equal([frame.seq, frame.cmd, frame.version, frame.flag], [seq, codec.cmd, version, flag]);
  assert.equal(decodeBody(codec, frame), msg, `${name} v${version} decodes back`);
}

const IM_V2_FRAME = `
  00000019 00000005 04 02 00 00          # len 25, seq 5, IM, v2
  0000000000000001 0000000000000002      # sender 1, receiver 2
  5f5e1000 00000003 61                   # timestamp, msgid 3, "a"`;

test('AUTH_TOKEN golden bytes', () => {
  roundTrip('AUTH_TOKEN', { platform_id: 2, token: 'tk', device_id: 'd1' }, 2, `
    00000007 00000001 0f 02 00 00
    02 02 746b 02 6431`);
});

test('AUTH_STATUS golden bytes, ok and failed', () => {
  roundTrip('AUTH_STATUS', { status: 0 }, 2, '00000004 00000001 03 02 00 00 00000000');
  roundTrip('AUTH_STATUS', { status: 1 }, 0, '00000004 00000001 03 00 00 00 00000001');
});

test('IM v0 has no timestamp; v1 and v2 do', () => {
  roundTrip('IM', { sender: 1, receiver: 2, timestamp: 0, msgid: 3, content: Buffer.from('a') }, 0, `
    00000015 00000005 04 00 00 00
    0000000000000001 0000000000000002 00000003 61`, 5);
  roundTrip('IM', { sender: 1, receiver: 2, timestamp: 0x5f5e1000, msgid: 3, content: Buffer.from('a') }, 2, IM_V2_FRAME, 5);
  roundTrip('IM', { sender: 1, receiver: 2, timestamp: 0x5f5e1000, msgid: 3, content: Buffer.from('a') }, 1,
    IM_V2_FRAME.replace('04 02 00 00', '04 01 00 00'), 5);
});

test('ACK: v1 is the seq alone, v2 adds a status byte', () => {
  roundTrip('ACK', { seq: 7, status: 0 }, 1, '00000004 00000002 05 01 00 00 00000007', 2);
  roundTrip('ACK', { seq: 7, status: 64 }, 2, '00000005 00000002 05 02 00 00 00000007 40', 2);
});

test('RT, ROOM_IM and ENTER_ROOM golden bytes (negative ids too)', () => {
  roundTrip('RT', { sender: 10, receiver: 20, content: Buffer.from('x') }, 2, `
    00000011 00000001 11 02 00 00 000000000000000a 0000000000000014 78`);
  roundTrip('ROOM_IM', { sender: 10, receiver: 300, content: Buffer.from('hi') }, 2, `
    00000012 00000001 14 02 00 00 000000000000000a 000000000000012c 6869`);
  roundTrip('ENTER_ROOM', { room_id: -1 }, 2, '00000008 00000001 12 02 00 00 ffffffffffffffff');
});

test('SUBSCRIBE, UNSUBSCRIBE and SUBSCRIBE_ROOM golden bytes', () => {
  roundTrip('SUBSCRIBE', { appid: 7, uid: 9, online: 1 }, 0, `
    00000011 00000001 82 00 00 00 0000000000000007 0000000000000009 01`);
  roundTrip('UNSUBSCRIBE', { appid: 7, uid: 9 }, 0, `
    00000010 00000001 83 00 00 00 0000000000000007 0000000000000009`);
  roundTrip('SUBSCRIBE_ROOM', { appid: 7, room_id: 300 }, 0, `
    00000010 00000001 88 00 00 00 0000000000000007 000000000000012c`);
});

test('PUBLISH carries a whole framed message', () => {
  const inner = hex(IM_V2_FRAME);
  roundTrip('PUBLISH', {
    appid: 7, receiver: 2, msgid: 0, device_id: 5, timestamp: 1_700_000_000_000_000_000n, message: inner,
  }, 0, `
    0000004f 00000001 84 00 00 00        # 42 + 37 = 79 bytes
    0000000000000007 0000000000000002     # appid, receiver
    0000000000000000 0000000000000005     # msgid, device_id
    17979cfe362a0000 0025                 # timestamp ns, length 37
    ${IM_V2_FRAME}`);
  const frame = parseFrame(inner) as Frame;
  assert.is(frame.cmd, Cmd.IM, 'the embedded frame parses on its own');
});

test('PUSH carries its receiver list and a framed message', () => {
  roundTrip('PUSH', { appid: 7, receivers: [9, 10], message: hex(IM_V2_FRAME) }, 0, `
    00000041 00000001 86 00 00 00         # 8 + 2 + 16 + 2 + 37 = 65 bytes
    0000000000000007 0002 0000000000000009 000000000000000a 0025
    ${IM_V2_FRAME}`);
});

/** One sample per message type, so that every entry of the table round-trips. */
const SAMPLES: { [K in MessageName]: Record<string, unknown> } = {
  AUTH_STATUS: { status: 1 },
  IM: { sender: 1, receiver: 2, timestamp: 3, msgid: 4, content: Buffer.from('hello') },
  ACK: { seq: 99, status: 3 },
  GROUP_NOTIFICATION: { content: Buffer.from('{"create":1}') },
  GROUP_IM: { sender: 1, receiver: 77, timestamp: 3, msgid: 4, content: Buffer.from('g') },
  PING: {},
  PONG: {},
  AUTH_TOKEN: { platform_id: 3, token: 'x'.repeat(255), device_id: 'dévice' },
  RT: { sender: -5, receiver: 2 ** 53 - 1, content: Buffer.alloc(0) },
  ENTER_ROOM: { room_id: -(2 ** 53 - 1) },
  LEAVE_ROOM: { room_id: 12 },
  ROOM_IM: { sender: 1, receiver: 12, content: Buffer.from('r') },
  SYSTEM: { content: Buffer.from('sys') },
  UNREAD_COUNT: { count: -1 },
  SYNC: { sync_key: 123456789012 },
  SYNC_BEGIN: { sync_key: 1 },
  SYNC_END: { sync_key: 2 },
  SYNC_NOTIFY: { sync_key: 3 },
  SYNC_GROUP: { group_id: 4, sync_key: 5 },
  SYNC_GROUP_BEGIN: { group_id: 4, sync_key: 6 },
  SYNC_GROUP_END: { group_id: 4, sync_key: 7 },
  SYNC_GROUP_NOTIFY: { group_id: 4, sync_key: 8 },
  SYNC_KEY: { sync_key: 9 },
  GROUP_SYNC_KEY: { group_id: 4, sync_key: 10 },
  NOTIFICATION: { content: Buffer.from('n') },
  METADATA: { sync_key: 11, prev_sync_key: 10 },
  CUSTOMER_V2: { sender_appid: 1, sender: 2, receiver_appid: 3, receiver: 4, timestamp: 5, content: Buffer.from('c') },
  SUBSCRIBE: { appid: 1, uid: 2, online: 0 },
  UNSUBSCRIBE: { appid: 1, uid: 2 },
  PUBLISH: { appid: 1, receiver: 2, msgid: 3, device_id: 4, timestamp: -1n, message: hex(IM_V2_FRAME) },
  PUSH: { appid: 1, receivers: [], message: Buffer.alloc(0) },
  PUBLISH_GROUP: { appid: 1, receiver: 2, msgid: 3, device_id: 4, timestamp: 5n, message: hex(IM_V2_FRAME) },
  SUBSCRIBE_ROOM: { appid: 1, room_id: 2 },
  UNSUBSCRIBE_ROOM: { appid: 1, room_id: 2 },
  PUBLISH_ROOM: { appid: 1, receiver: 2, msgid: 3, device_id: 4, timestamp: 6n, message: hex(IM_V2_FRAME) },
  LINK_AUTH: { secret: Buffer.from('s3cret') },
};

test('every message of the table round-trips at every version', () => {
  for (const name of Object.keys(MESSAGES) as MessageName[]) {
    for (const version of [0, 1, 2]) {
      const codec = codecs[name];
      const msg = { ...SAMPLES[name] };
      if (name === 'ACK' && version < 2) msg.status = 0;
      if ((name === 'IM' || name === 'GROUP_IM') && version === 0) msg.timestamp = 0;
      const frame = parseFrame(encodeFrame(codec, msg as never, 42, version)) as Frame;
      assert.equal(decodeBody(codec, frame), msg, `${name} v${version}`);
    }
  }
});

test('minimum body sizes match docs/protocol.md', () => {
  const min = (name: MessageName, v = 2) => codecs[name].forVersion(v).minSize;
  assert.is(min('IM', 0), 20);
  assert.is(min('IM', 1), 24);
  assert.is(min('RT'), 16);
  assert.is(min('ROOM_IM'), 16);
  assert.is(min('ENTER_ROOM'), 8);
  assert.is(min('LEAVE_ROOM'), 8);
  assert.is(min('SYNC'), 8);
  assert.is(min('SYNC_GROUP'), 16);
  assert.is(min('METADATA'), 32);
  assert.is(min('CUSTOMER_V2'), 36);
  assert.is(min('AUTH_STATUS'), 4);
  assert.is(min('UNREAD_COUNT'), 4);
  assert.is(min('SUBSCRIBE'), 17);
  assert.is(min('PUBLISH'), 42);
});

test('short and malformed bodies give typed errors naming the rule and cmd', () => {
  const im = codecs.IM.forVersion(2);
  const short = im.decode(Buffer.alloc(23), 0, 23) as ProtocolError;
  assert.instance(short, ProtocolError);
  assert.is(short.code, 'ERR_BODY_TOO_SHORT');
  assert.is(short.cmd, Cmd.IM);

  const token = codecs.AUTH_TOKEN.forVersion(2);
  const bad = token.decode(hex('02 09 6162 00'), 0, 5) as ProtocolError;
  assert.is(bad.code, 'ERR_BODY_TOO_SHORT', 'token length past the end');

  const pub = codecs.PUBLISH.forVersion(0);
  const body = Buffer.alloc(42);
  body.writeInt16BE(-3, 40);
  assert.is((pub.decode(body, 0, 42) as ProtocolError).code, 'ERR_BODY_MALFORMED');

  const huge = hex('0020000000000000'); // 2^53: not exactly representable as a number
  assert.is((codecs.ENTER_ROOM.forVersion(2).decode(huge, 0, 8) as ProtocolError).code, 'ERR_ID_RANGE');

  const push = hex('0000000000000001 0003 0000000000000001');
  assert.is((codecs.PUSH.forVersion(0).decode(push, 0, push.length) as ProtocolError).code, 'ERR_BODY_TOO_SHORT');
});

test('encoding rejects values the wire cannot carry', () => {
  assert.throws(() => encodeFrame(codecs.AUTH_TOKEN, { platform_id: 1, token: 'x'.repeat(256), device_id: '' }, 1, 2), /255/);
  assert.throws(() => encodeFrame(codecs.SYSTEM, { content: Buffer.alloc(40_000) }, 1, 2), /exceeds/);
});

test('whitelists follow the direction column', () => {
  for (const cmd of [Cmd.AUTH_TOKEN, Cmd.IM, Cmd.ACK, Cmd.PING, Cmd.PONG, Cmd.RT, Cmd.ENTER_ROOM, Cmd.LEAVE_ROOM,
    Cmd.ROOM_IM, Cmd.UNREAD_COUNT, Cmd.SYNC, Cmd.SYNC_GROUP, Cmd.SYNC_KEY, Cmd.GROUP_SYNC_KEY, Cmd.METADATA,
    Cmd.CUSTOMER_V2, Cmd.GROUP_IM]) assert.is(CLIENT_CMDS[cmd], 1, `client may send ${cmd}`);
  for (const cmd of [Cmd.AUTH_STATUS, Cmd.SYSTEM, Cmd.SYNC_BEGIN, Cmd.NOTIFICATION, Cmd.GROUP_NOTIFICATION,
    Cmd.SUBSCRIBE, Cmd.PUBLISH, 0, 255]) assert.is(CLIENT_CMDS[cmd], 0, `client may not send ${cmd}`);
  assert.is(SERVER_CMDS[Cmd.AUTH_TOKEN], 0);
  assert.is(SERVER_CMDS[Cmd.SYSTEM], 1);
  assert.is(ROUTER_CMDS[Cmd.PUBLISH_ROOM], 1);
  assert.is(ROUTER_CMDS[Cmd.IM], 0);
});

test.run();
