// The messenger's decisions, with no DOM and no network: what a poll counts, which chats go
// under which school space, how many may be pinned, what a folder holds. Tested by `node --test`.

export const MAX_PINNED = 5;
export const PIN_TAG = "m.favourite"; // Element shows these as «Избранное»: pins follow the person
export const FOLDERS_TYPE = "org.parta.chat_folders"; // account data: no standard place for folders
export const MARKED_UNREAD = ["m.marked_unread", "com.famedly.marked_unread"];

// Polls as Element sends them (MSC3381, unstable names, which every current client reads),
// and the stable names of Matrix 1.7 extensible events for rooms that will carry them.
export const POLL_START = ["org.matrix.msc3381.poll.start", "m.poll.start"];
export const POLL_RESPONSE = ["org.matrix.msc3381.poll.response", "m.poll.response"];
export const POLL_END = ["org.matrix.msc3381.poll.end", "m.poll.end"];
const TEXT = ["org.matrix.msc1767.text", "m.text"];

function text(block) {
  if (typeof block === "string") return block;
  if (!block) return "";
  for (const key of TEXT) {
    const value = block[key];
    if (typeof value === "string") return value;
    if (Array.isArray(value) && value.length) return String(value[0].body ?? "");
  }
  return typeof block.body === "string" ? block.body : "";
}

export function pollStartContent(question, answers) {
  const fallback = `${question}\n${answers.map((a, i) => `${i + 1}. ${a}`).join("\n")}`;
  return {
    [POLL_START[0]]: {
      kind: "org.matrix.msc3381.poll.disclosed",
      max_selections: 1,
      question: { [TEXT[0]]: question },
      answers: answers.map((a, i) => ({ id: `a${i + 1}`, [TEXT[0]]: a })),
    },
    [TEXT[0]]: fallback,
    body: fallback,
  };
}

export function pollResponseContent(pollEventId, answerId) {
  return {
    "m.relates_to": { rel_type: "m.reference", event_id: pollEventId },
    [POLL_RESPONSE[0]]: { answers: [answerId] },
  };
}

/** The poll a start event carries: {question, answers: [{id, text}], maxSelections} or null. */
export function parsePoll(type, content) {
  if (!POLL_START.includes(type)) return null;
  const block = content[POLL_START[0]] || content["m.poll"];
  if (!block) return null;
  const answers = (block.answers || [])
    .map((a) => ({ id: String(a.id ?? a["m.id"] ?? ""), text: text(a) }))
    .filter((a) => a.id);
  return {
    question: text(block.question),
    answers,
    maxSelections: Math.max(1, Number(block.max_selections) || 1),
  };
}

/**
 * Count a poll's votes: one vote per person, their latest response wins, responses after
 * the poll's end (by its creator) are ignored. `responses`: [{type, sender, ts, content}].
 */
export function tallyPoll(poll, pollEventId, responses, endedAt = null) {
  const latest = new Map();
  for (const r of responses) {
    if (!POLL_RESPONSE.includes(r.type)) continue;
    const rel = r.content["m.relates_to"];
    if (!rel || rel.event_id !== pollEventId) continue;
    if (endedAt !== null && r.ts > endedAt) continue;
    const chosen = (r.content[POLL_RESPONSE[0]] || r.content["m.selections"] || {}).answers
      ?? r.content["m.selections"] ?? [];
    const previous = latest.get(r.sender);
    if (!previous || previous.ts <= r.ts) latest.set(r.sender, { ts: r.ts, chosen });
  }
  const counts = Object.fromEntries(poll.answers.map((a) => [a.id, 0]));
  const valid = new Set(poll.answers.map((a) => a.id));
  const voters = new Map();
  for (const [sender, { chosen }] of latest) {
    const picks = (Array.isArray(chosen) ? chosen : []).filter((c) => valid.has(c));
    const kept = picks.slice(0, poll.maxSelections);
    if (!kept.length) continue;
    voters.set(sender, kept);
    for (const id of kept) counts[id] += 1;
  }
  return { counts, voters, total: voters.size };
}

/**
 * Chats grouped for the list: pinned first (by their tag order), then one group per space
 * the chat sits in directly (the school, a class…), then personal chats, then the rest.
 * `rooms`: [{id, name, isSpace, isDirect, children: [ids], parents: [ids], pinOrder: number|null,
 * ts}]. A chat belongs to a space that lists it as a child or that it names as its parent.
 */
export function groupChats(rooms, labels) {
  const chats = rooms.filter((r) => !r.isSpace);
  const byTime = (a, b) => b.ts - a.ts || a.name.localeCompare(b.name);
  const pinned = chats
    .filter((r) => r.pinOrder !== null)
    .sort((a, b) => a.pinOrder - b.pinOrder || byTime(a, b));
  const placed = new Set(pinned.map((r) => r.id));
  const groups = [];
  if (pinned.length) groups.push({ id: "pinned", name: labels.pinned, chats: pinned });
  const spaces = rooms.filter((r) => r.isSpace).sort((a, b) => a.name.localeCompare(b.name));
  for (const space of spaces) {
    const inside = chats
      .filter((r) => space.children.includes(r.id) || (r.parents || []).includes(space.id))
      .filter((r) => !placed.has(r.id))
      .sort(byTime);
    if (!inside.length) continue;
    inside.forEach((r) => placed.add(r.id));
    groups.push({ id: space.id, name: space.name, space: true, chats: inside });
  }
  const direct = chats.filter((r) => r.isDirect && !placed.has(r.id)).sort(byTime);
  direct.forEach((r) => placed.add(r.id));
  if (direct.length) groups.push({ id: "direct", name: labels.personal, chats: direct });
  const rest = chats.filter((r) => !placed.has(r.id)).sort(byTime);
  if (rest.length) groups.push({ id: "other", name: labels.other, chats: rest });
  return groups;
}

/** The order for a newly pinned chat, or an error when five are pinned already. */
export function nextPin(pinOrders) {
  const taken = pinOrders.filter((o) => o !== null && o !== undefined);
  if (taken.length >= MAX_PINNED) return { ok: false };
  const top = taken.length ? Math.max(...taken) : 0;
  return { ok: true, order: Math.min(0.999, top + 0.1) };
}

/** Folders as kept in account data, cleaned of anything malformed. */
export function readFolders(content) {
  const list = Array.isArray(content?.folders) ? content.folders : [];
  return list
    .filter((f) => f && typeof f.id === "string" && typeof f.name === "string")
    .map((f) => ({
      id: f.id,
      name: f.name.slice(0, 64),
      rooms: Array.isArray(f.rooms) ? f.rooms.filter((r) => typeof r === "string") : [],
    }));
}

export function withFolder(folders, name, id) {
  return [...folders, { id, name: name.trim().slice(0, 64), rooms: [] }];
}

/** Put a chat in one folder (or none: folderId null); a chat lives in at most one folder. */
export function placeInFolder(folders, roomId, folderId) {
  return folders.map((f) => {
    const rooms = f.rooms.filter((r) => r !== roomId);
    if (f.id === folderId) rooms.push(roomId);
    return { ...f, rooms };
  });
}

/** Whether the person's push rules mute this room (Element's way: an override rule by id). */
export function isMuteRule(rule, roomId) {
  if (!rule || rule.rule_id !== roomId || rule.enabled === false) return false;
  const conditions = rule.conditions || [];
  const onRoom = conditions.some(
    (c) => c.kind === "event_match" && c.key === "room_id" && c.pattern === roomId,
  );
  const silent = (rule.actions || []).every((a) => a === "dont_notify");
  return onRoom && silent;
}

export function muteRule(roomId) {
  return {
    conditions: [{ kind: "event_match", key: "room_id", pattern: roomId }],
    actions: [],
  };
}

/** A forwarded copy: the same content without its relations (replies, edits, threads). */
export function forwardContent(content) {
  const copy = structuredClone(content);
  delete copy["m.relates_to"];
  delete copy["m.new_content"];
  if (typeof copy.body === "string" && copy.format === "org.matrix.custom.html") {
    delete copy.format;
    delete copy.formatted_body;
  }
  return copy;
}

/** A reply: the spec's m.in_reply_to with a plain fallback for older clients. */
export function replyContent(body, parent) {
  const quoted = String(parent.body || "")
    .split("\n")
    .filter((line) => !line.startsWith("> "))
    .slice(0, 3)
    .map((line, i) => (i === 0 ? `> <${parent.sender}> ${line}` : `> ${line}`))
    .join("\n");
  return {
    msgtype: "m.text",
    body: `${quoted}\n\n${body}`,
    "m.relates_to": { "m.in_reply_to": { event_id: parent.eventId } },
  };
}

/** The reply's own words, without the quoted fallback. */
export function stripReplyFallback(body) {
  const lines = String(body || "").split("\n");
  let i = 0;
  while (i < lines.length && lines[i].startsWith("> ")) i += 1;
  if (i > 0 && lines[i] === "") i += 1;
  return lines.slice(i).join("\n");
}

/**
 * A file, photo or video as a message; sent while answering a message it carries the reply
 * relation (how homework is handed in: the school's bot counts files in reply to its task).
 */
export function fileContent(name, url, info, replyTo) {
  const content = { msgtype: msgtypeFor(info.mimetype), body: name, url, info };
  if (replyTo) content["m.relates_to"] = { "m.in_reply_to": { event_id: replyTo.eventId } };
  return content;
}

/**
 * Whether ``userId`` may send messages, from the room's power levels and its create event
 * (room version 12's creators outrank every level, and matrix-js-sdk 37 reports them as 0).
 */
export function maySendMessages(levels, create, userId) {
  const events = levels?.events || {};
  const needed = Number(events["m.room.message"] ?? levels?.events_default ?? 0);
  return powerOf(levels, create, userId) >= needed;
}

/** A person's power in a chat; a room v12 creator outranks every level. */
export function powerOf(levels, create, userId) {
  const content = create?.content || {};
  const creators = ["12", "org.matrix.hydra.11"].includes(String(content.room_version))
    ? [create.sender, ...(Array.isArray(content.additional_creators) ? content.additional_creators : [])]
    : [];
  if (creators.includes(userId)) return Infinity;
  const users = levels?.users || {};
  return Number(users[userId] ?? levels?.users_default ?? 0);
}

export const STAFF_POWER = 50; // the bots take a teacher's command from this power up
export const CALL_WIDGET = ["im.vector.modular.widgets", "parta_call"];

/** The running call's page, from the call widget the bridge keeps in the chat (null: none). */
export function runningCall(widget) {
  const url = widget?.url;
  return typeof url === "string" && /^https?:\/\//.test(url) ? url : null;
}

/** The call page of a chat on the school's call bridge. */
export function callUrl(bridge, roomId) {
  return `${String(bridge).replace(/\/+$/, "")}/room/${encodeURIComponent(roomId)}`;
}

/** The bots' text commands, which the teacher's buttons write for them (other clients type
 * them). Each returns the message body or throws an Error with the reason to show. */
export const commands = {
  homework(text) {
    const task = String(text).trim();
    if (!task) throw new Error("empty");
    return `!дз ${task}`;
  },
  handedIn: () => "!сдали",
  revoke: () => "!отозвать",
  chat(name, audience) {
    const title = String(name).replace(/\s+/g, " ").trim();
    if (!title) throw new Error("empty");
    return audience ? `!чат ${title} ${audience}` : `!чат ${title}`;
  },
  /** ``when``: "now", or { date: "2026-12-05", time: "18:30" }. */
  meeting(when, minutes, topic) {
    const length = Number(minutes) || 45;
    const about = String(topic || "").replace(/\s+/g, " ").trim();
    let at = "сейчас";
    if (when !== "now") {
      const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(when?.date || "");
      const t = /^(\d{2}):(\d{2})$/.exec(when?.time || "");
      if (!d || !t) throw new Error("when");
      at = `${d[3]}.${d[2]}.${d[1]} ${t[1]}:${t[2]}`;
    }
    return `!собрание ${at} ${length}${about ? ` ${about}` : ""}`;
  },
};

export const JOIN_LABELS = ["Присоединиться", "Join"]; // the bots' call links: drawn as buttons

const KEPT_TAGS = new Set(["B", "STRONG", "I", "EM", "BR", "P", "CODE", "UL", "OL", "LI", "A"]);

/** Whether an element of a message's HTML is kept (everything else becomes its text). */
export function keptTag(tagName) {
  return KEPT_TAGS.has(String(tagName).toUpperCase());
}

/** A link of a message's HTML that may be followed: http(s) only. */
export function safeHref(href) {
  try {
    const url = new URL(String(href));
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

/** Why a send was refused, in the person's words (the homeserver's are English and technical). */
export function refusalOf(error, t) {
  const code = error?.errcode || error?.data?.errcode;
  if (code === "M_FORBIDDEN") return t.refusedForbidden;
  if (code === "M_LIMIT_EXCEEDED" || error?.httpStatus === 429) return t.refusedTooFast;
  if (code === "M_TOO_LARGE" || error?.httpStatus === 413) return t.refusedTooLarge;
  if (!error?.httpStatus) return t.refusedOffline;
  return t.refusedOther;
}

/** Whether a message is the school bot's homework task («Домашнее задание: …»). */
export function isHomework(content) {
  return Boolean(content && content["org.parta.homework"]);
}

export function msgtypeFor(mime) {
  if (mime.startsWith("image/")) return "m.image";
  if (mime.startsWith("video/")) return "m.video";
  if (mime.startsWith("audio/")) return "m.audio";
  return "m.file";
}

/** Split text into plain parts and http(s) links, trailing punctuation left outside. */
export function splitLinks(text) {
  const parts = [];
  let rest = String(text);
  const pattern = /https?:\/\/[^\s<>"]+/;
  for (let m = pattern.exec(rest); m; m = pattern.exec(rest)) {
    let url = m[0];
    while (/[.,;:!?)»]$/.test(url)) url = url.slice(0, -1);
    if (m.index) parts.push({ text: rest.slice(0, m.index), link: false });
    parts.push({ text: url, link: true });
    rest = rest.slice(m.index + url.length);
  }
  if (rest) parts.push({ text: rest, link: false });
  return parts;
}

/** Edits (m.replace) by each message's own sender: the newest content for each edited event. */
export function latestEdits(events) {
  const found = new Map();
  const senders = new Map(events.map((e) => [e.id, e.sender]));
  for (const e of events) {
    const rel = e.content?.["m.relates_to"];
    const edited = e.content?.["m.new_content"];
    if (rel?.rel_type !== "m.replace" || !edited || senders.get(rel.event_id) !== e.sender) continue;
    const known = found.get(rel.event_id);
    if (!known || known.ts <= e.ts) found.set(rel.event_id, { ts: e.ts, content: edited });
  }
  return new Map([...found].map(([id, v]) => [id, v.content]));
}

export function isEdit(content) {
  return content?.["m.relates_to"]?.rel_type === "m.replace";
}

/** An edit of one's own text message, as Element sends it (with a fallback body). */
export function editContent(eventId, body) {
  return {
    msgtype: "m.text",
    body: `* ${body}`,
    "m.new_content": { msgtype: "m.text", body },
    "m.relates_to": { rel_type: "m.replace", event_id: eventId },
  };
}

/** «Контакты» as the server ordered them, grouped, narrowed to those whose name or place
 * holds every word searched for (case and «ё» ignored). */
export function groupContacts(contacts, query) {
  const fold = (text) => String(text || "").toLowerCase().replaceAll("ё", "е");
  const words = fold(query).split(/\s+/).filter(Boolean);
  const groups = new Map();
  for (const c of contacts) {
    const text = fold(`${c.name} ${c.role} ${c.detail || ""}`);
    if (!words.every((w) => text.includes(w))) continue;
    const key = c.group || "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(c);
  }
  return [...groups];
}
