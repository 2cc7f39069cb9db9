import { test } from "node:test";
import assert from "node:assert/strict";
import {
  groupChats, isMuteRule, muteRule, nextPin, parsePoll, placeInFolder, pollResponseContent,
  pollStartContent, readFolders, replyContent, stripReplyFallback, tallyPoll, forwardContent,
  splitLinks, latestEdits, isEdit, editContent, fileContent, isHomework, maySendMessages, refusalOf,
} from "../src/model.js";
import { LANGUAGES } from "../src/strings.js";

test("a poll made here parses back and counts one latest vote per person", () => {
  const content = pollStartContent("Когда собрание?", ["Вторник", "Среда"]);
  const poll = parsePoll("org.matrix.msc3381.poll.start", content);
  assert.equal(poll.question, "Когда собрание?");
  assert.deepEqual(poll.answers.map((a) => a.text), ["Вторник", "Среда"]);
  const vote = (sender, ts, id) => ({
    type: "org.matrix.msc3381.poll.response", sender, ts, content: pollResponseContent("$p", id),
  });
  const other = { ...vote("@c:s", 5, "a1"), content: pollResponseContent("$other", "a1") };
  const tally = tallyPoll(poll, "$p", [vote("@a:s", 1, "a1"), vote("@a:s", 3, "a2"),
    vote("@b:s", 2, "a2"), other, vote("@d:s", 4, "nope")]);
  assert.deepEqual(tally.counts, { a1: 0, a2: 2 });
  assert.equal(tally.total, 2);
});

test("a vote after the poll's end does not count", () => {
  const poll = parsePoll("m.poll.start", {
    "m.poll": { question: { "m.text": [{ body: "Q" }] },
      answers: [{ "m.id": "x", "m.text": [{ body: "X" }] }] },
  });
  const late = { type: "m.poll.response", sender: "@a:s", ts: 10,
    content: { "m.relates_to": { event_id: "$p" }, "m.selections": ["x"] } };
  assert.equal(tallyPoll(poll, "$p", [late], 5).total, 0);
  assert.equal(tallyPoll(poll, "$p", [late]).total, 1);
});

test("chats group as pinned, then by space, then personal, then the rest", () => {
  const rooms = [
    { id: "!s", name: "Школа", isSpace: true, children: ["!b"], pinOrder: null, ts: 0 },
    { id: "!a", name: "5А", isSpace: false, children: [], parents: ["!s"], pinOrder: null, ts: 2 },
    { id: "!b", name: "Учительская", isSpace: false, children: [], pinOrder: 0.1, ts: 1 },
    { id: "!d", name: "Мама", isSpace: false, isDirect: true, children: [], pinOrder: null, ts: 1 },
    { id: "!x", name: "Кружок", isSpace: false, children: [], pinOrder: null, ts: 1 },
  ];
  const groups = groupChats(rooms, { pinned: "P", personal: "D", other: "O" });
  assert.deepEqual(groups.map((g) => [g.name, g.chats.map((c) => c.id)]), [
    ["P", ["!b"]], ["Школа", ["!a"]], ["D", ["!d"]], ["O", ["!x"]],
  ]);
});

test("a sixth pin is refused", () => {
  assert.equal(nextPin([0.1, 0.2, 0.3, 0.4]).ok, true);
  assert.equal(nextPin([0.1, 0.2, 0.3, 0.4, 0.5]).ok, false);
  assert.equal(nextPin([null, null]).order, 0.1);
});

test("folders survive malformed account data and hold a chat once", () => {
  const folders = readFolders({ folders: [{ id: "f1", name: "Учёба", rooms: ["!a", 3] }, null] });
  assert.deepEqual(folders, [{ id: "f1", name: "Учёба", rooms: ["!a"] }]);
  const moved = placeInFolder([...folders, { id: "f2", name: "Дом", rooms: [] }], "!a", "f2");
  assert.deepEqual(moved.map((f) => f.rooms), [[], ["!a"]]);
  assert.deepEqual(readFolders(undefined), []);
});

test("the mute rule made here is recognised, another room's is not", () => {
  const rule = { rule_id: "!r", enabled: true, ...muteRule("!r") };
  assert.equal(isMuteRule(rule, "!r"), true);
  assert.equal(isMuteRule({ ...rule, actions: ["notify"] }, "!r"), false);
  assert.equal(isMuteRule(rule, "!other"), false);
});

test("replies quote their parent and the quote is stripped for display", () => {
  const reply = replyContent("Да", { body: "Завтра контрольная?", sender: "@t:s", eventId: "$e" });
  assert.equal(reply["m.relates_to"]["m.in_reply_to"].event_id, "$e");
  assert.equal(stripReplyFallback(reply.body), "Да");
  const fwd = forwardContent(reply);
  assert.equal(fwd["m.relates_to"], undefined);
});

test("links are found, javascript: is not, and trailing punctuation stays text", () => {
  assert.deepEqual(splitLinks("Ссылка: https://школа.рф/join/x1. javascript:alert(1)"), [
    { text: "Ссылка: ", link: false },
    { text: "https://школа.рф/join/x1", link: true },
    { text: ". javascript:alert(1)", link: false },
  ]);
  assert.deepEqual(splitLinks("без ссылок"), [{ text: "без ссылок", link: false }]);
});

test("every language has every word Russian has", () => {
  for (const [lang, table] of Object.entries(LANGUAGES)) {
    const missing = Object.keys(LANGUAGES.ru).filter((k) => !(k in table));
    assert.deepEqual(missing, [], `${lang} lacks ${missing}`);
  }
});

test("the newest edit by the message's own sender wins; others' edits are ignored", () => {
  const edit = (id, sender, ts, target, body) => ({
    id, sender, ts,
    content: { body: `* ${body}`, "m.new_content": { msgtype: "m.text", body },
      "m.relates_to": { rel_type: "m.replace", event_id: target } },
  });
  const events = [
    { id: "$m", sender: "@t:s", ts: 1, content: { msgtype: "m.text", body: "Контрольная в среду" } },
    edit("$e1", "@t:s", 2, "$m", "Контрольная в четверг"),
    edit("$e2", "@t:s", 3, "$m", "Контрольная в пятницу"),
    edit("$x", "@s:s", 4, "$m", "Контрольной не будет"),
  ];
  const edits = latestEdits(events);
  assert.equal(edits.get("$m").body, "Контрольная в пятницу");
  assert.equal(edits.size, 1);
  assert.equal(isEdit(events[1].content), true);
  assert.equal(isEdit(events[0].content), false);
});

test("an edit made here is read back as the newest text", () => {
  const edit = { id: "$e", sender: "@s:s", ts: 2, content: editContent("$m", "Сдам сегодня") };
  const original = { id: "$m", sender: "@s:s", ts: 1, content: { msgtype: "m.text", body: "Сдам завтра" } };
  assert.equal(latestEdits([original, edit]).get("$m").body, "Сдам сегодня");
  assert.equal(edit.content.body, "* Сдам сегодня");
});

test("a file sent in answer carries the reply relation; alone it carries none", () => {
  const info = { mimetype: "image/png", size: 3 };
  const answer = fileContent("ответ.png", "mxc://s/a", info, { eventId: "$task" });
  assert.equal(answer.msgtype, "m.image");
  assert.deepEqual(answer["m.relates_to"], { "m.in_reply_to": { event_id: "$task" } });
  assert.equal("m.relates_to" in fileContent("a.pdf", "mxc://s/b", { mimetype: "application/pdf" }, null), false);
  assert.equal(isHomework({ body: "Домашнее задание: …", "org.parta.homework": { set_by: "@t:s" } }), true);
  assert.equal(isHomework({ body: "Домашнее задание: шутка" }), false);
});

test("who may write: the levels, and room v12 creators whatever the levels say", () => {
  const announcements = { users: { "@t:s": 60 }, users_default: 0, events_default: 60 };
  assert.equal(maySendMessages(announcements, null, "@pupil:s"), false);
  assert.equal(maySendMessages(announcements, null, "@t:s"), true);
  const v12 = { sender: "@bot:s", content: { room_version: "12" } };
  assert.equal(maySendMessages({ events_default: 100 }, v12, "@bot:s"), true);
  assert.equal(maySendMessages({ events: { "m.room.message": 50 } }, v12, "@pupil:s"), false);
  assert.equal(maySendMessages(undefined, null, "@anyone:s"), true);
});

test("a refused send is explained in the person's words", () => {
  const t = LANGUAGES.ru;
  assert.equal(refusalOf({ errcode: "M_FORBIDDEN", httpStatus: 403 }, t), t.refusedForbidden);
  assert.equal(refusalOf({ httpStatus: 429 }, t), t.refusedTooFast);
  assert.equal(refusalOf(new Error("fetch failed"), t), t.refusedOffline);
});

test("powers, the running call and the call page of a chat", async () => {
  const { powerOf, runningCall, callUrl } = await import("../src/model.js");
  const create = { sender: "@bot:s", content: { room_version: "12" } };
  assert.equal(powerOf({ users: { "@t:s": 50 } }, create, "@t:s"), 50);
  assert.equal(powerOf({ users_default: 0 }, create, "@s:s"), 0);
  assert.equal(powerOf({}, create, "@bot:s"), Infinity);
  assert.equal(runningCall({ url: "https://calls.school/room/!r:s" }), "https://calls.school/room/!r:s");
  assert.equal(runningCall({}), null);
  assert.equal(runningCall({ url: "javascript:alert(1)" }), null);
  assert.equal(callUrl("https://calls.school/", "!r:s"), "https://calls.school/room/!r%3As");
});

test("the teacher's buttons write the bots' commands", async () => {
  const { commands } = await import("../src/model.js");
  assert.equal(commands.homework("  Упр. 5 "), "!дз Упр. 5");
  assert.throws(() => commands.homework("  "));
  assert.equal(commands.chat(" Кружок  робототехники ", "для учеников"), "!чат Кружок робототехники для учеников");
  assert.equal(commands.chat("Кружок", ""), "!чат Кружок");
  assert.equal(commands.meeting("now", "30", "Срочно"), "!собрание сейчас 30 Срочно");
  assert.equal(commands.meeting({ date: "2026-12-07", time: "18:30" }, "", ""), "!собрание 07.12.2026 18:30 45");
  assert.throws(() => commands.meeting({ date: "", time: "18:30" }, 45, ""));
  assert.equal(commands.handedIn(), "!сдали");
  assert.equal(commands.revoke(), "!отозвать");
});

test("a message's HTML keeps simple formatting and http links only", async () => {
  const { keptTag, safeHref } = await import("../src/model.js");
  assert.ok(keptTag("a") && keptTag("B") && keptTag("br"));
  assert.ok(!keptTag("script") && !keptTag("img") && !keptTag("iframe") && !keptTag("mx-reply"));
  assert.equal(safeHref("https://calls.school/lesson/1"), "https://calls.school/lesson/1");
  assert.equal(safeHref("javascript:alert(1)"), null);
  assert.equal(safeHref("data:text/html,x"), null);
  assert.equal(safeHref("not a url"), null);
});

test("contacts are grouped in the server's order and searched by every word", async () => {
  const { groupContacts } = await import("../src/model.js");
  const people = [
    { name: "Иванов Пётр", role: "ученик", detail: "5А", group: "Мои дети" },
    { name: "Смирнова Анна", role: "учитель", detail: "математика", group: "Учителя" },
    { name: "Сёмина Ольга", role: "учитель", detail: "русский язык", group: "Учителя" },
  ];
  assert.deepEqual(groupContacts(people, "").map(([g, p]) => [g, p.length]), [["Мои дети", 1], ["Учителя", 2]]);
  assert.deepEqual(groupContacts(people, "семина").map(([, p]) => p[0].name), ["Сёмина Ольга"]);
  assert.deepEqual(groupContacts(people, "учитель мат").map(([, p]) => p.map((c) => c.name)), [["Смирнова Анна"]]);
  assert.deepEqual(groupContacts(people, "5а"), [["Мои дети", [people[0]]]]);
  assert.deepEqual(groupContacts(people, "никто"), []);
});
