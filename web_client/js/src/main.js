// The messenger inside the diary's «Чаты» tab, on matrix-js-sdk. Everything a person sets here
// is kept where Matrix keeps it — room tags (pins), account data (folders, marked unread, direct
// chats), push rules (mute, notification settings) — so it follows them to any Matrix client.

import {
  ClientEvent,
  NotificationCountType,
  RoomEvent,
  RoomMemberEvent,
  createClient,
} from "matrix-js-sdk";
import { withChat } from "./chat.js";
import { h } from "./dom.js";
import { withList } from "./list.js";
import * as M from "./model.js";
import { forget, signIn } from "./session.js";
import { withSettings } from "./settings.js";
import { withTeacher } from "./teacher.js";
import { strings } from "./strings.js";

const root = document.getElementById("messenger");
if (root) boot(root);

async function boot(el) {
  const cfg = { ...el.dataset };
  const t = strings(cfg.lang);
  const note = h("p", { class: "m-status", role: "status" }, t.signingIn);
  el.append(note);
  let session;
  try {
    session = await signIn({
      homeserver: cfg.homeserver,
      userId: cfg.userId,
      diaryUrl: cfg.diaryUrl,
      idp: cfg.idp,
      deviceName: t.messenger,
    });
  } catch (e) {
    note.setAttribute("role", "alert");
    note.textContent = t.signInFailed;
    note.dataset.testid = "messenger-error";
    console.error(e);
    return;
  }
  if (!session) return; // on its way through single sign-on
  const client = createClient({
    baseUrl: cfg.homeserver,
    accessToken: session.accessToken,
    userId: session.userId,
    deviceId: session.deviceId,
  });
  try {
    await client.whoami();
  } catch (e) {
    if (e.errcode === "M_UNKNOWN_TOKEN") {
      forget(cfg.userId);
      location.reload();
      return;
    }
  }
  note.remove();
  new Messenger(el, client, cfg, t).start();
}
class Core {
  constructor(el, client, cfg, t) {
    this.el = el;
    this.client = client;
    this.cfg = cfg;
    this.t = t;
    this.me = client.getUserId();
    this.roomId = null;
    this.moreOpen = null;
    this.readers = new Map(); // «Кто прочитал» answers by event id, with when they came // the chat whose «Ещё» (pin, sound, folder) is open on a phone
    this.folder = "all";
    this.replyTo = null;
    this.media = new Map();
    this.names = new Map(); // people's names from the diary's contacts
    this.directTo = new Map(); // personal chats made here: room → the other person
    this.queued = false;
    this.lastTyping = 0;
    this.build();
  }

  // ---- layout -------------------------------------------------------------------------------

  build() {
    const t = this.t;
    this.status = h("p", { class: "m-status", role: "status", "aria-live": "polite" });
    this.alert = h("p", { class: "m-alert", role: "alert", "data-testid": "messenger-alert" });
    this.folderBar = h("div", { class: "m-folders", role: "toolbar", "aria-label": t.folders });
    this.search = h("input", {
      type: "search",
      class: "m-search",
      placeholder: t.search,
      "aria-label": t.search,
      onInput: () => this.renderList(),
    });
    this.list = h("div", { class: "m-list-groups", "data-testid": "chat-groups" });
    const tools = h(
      "div",
      { class: "m-tools" },
      h("button", { type: "button", onClick: () => this.openContacts() }, t.contacts),
      h("button", { type: "button", onClick: () => this.openNotifications() }, t.notifications),
      h("button", { type: "button", onClick: () => this.openSupport() }, t.support),
    );
    this.listPane = h(
      "aside",
      { class: "m-list", "aria-label": t.chatList },
      tools,
      this.search,
      this.folderBar,
      this.list,
    );
    this.chatPane = h("section", { class: "m-chat", "aria-label": t.chats, tabindex: "-1" });
    this.dialog = h("dialog", { class: "m-dialog" });
    this.el.append(
      this.status,
      this.alert,
      h("div", { class: "m-panes" }, this.listPane, this.chatPane),
      this.dialog,
    );
    this.renderEmptyChat(t.loading);
  }

  start() {
    const c = this.client;
    const later = () => this.schedule();
    c.on(ClientEvent.Sync, (state) => {
      if (state === "PREPARED" || state === "SYNCING") later();
      if (state === "PREPARED") {
        this.el.dataset.ready = "1";
        if (!this.roomId) this.renderEmptyChat(this.t.chooseChat);
        this.openFromHash();
      }
    });
    c.on(ClientEvent.Room, later);
    c.on(ClientEvent.AccountData, later);
    c.on(RoomEvent.Timeline, later);
    c.on(RoomEvent.Name, later);
    c.on(RoomEvent.Tags, later);
    c.on(RoomEvent.AccountData, later);
    c.on(RoomEvent.Receipt, later);
    c.on(RoomEvent.UnreadNotifications, later);
    c.on(RoomEvent.MyMembership, later);
    c.on(RoomMemberEvent.Typing, later);
    window.addEventListener("hashchange", () => this.openFromHash());
    const logout = document.querySelector('form[action="/logout"]');
    if (logout) {
      logout.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          await c.logout(true);
        } catch {
          /* the diary session ends anyway */
        }
        forget(this.me);
        logout.submit();
      });
    }
    c.startClient({ initialSyncLimit: 30, lazyLoadMembers: true });
  }

  schedule() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      if (this.pending && this.client.getRoom(this.pending)?.getMyMembership() === "join") {
        const id = this.pending;
        this.pending = null;
        this.open(id);
        return;
      }
      this.renderList();
      if (this.roomId) this.renderChat();
    });
  }

  say(text) {
    this.status.textContent = text;
    this.alert.textContent = "";
  }

  fail(text) {
    this.alert.textContent = text;
  }

  // ---- what the person has ------------------------------------------------------------------

  joined() {
    return this.client.getRooms().filter((r) => r.getMyMembership() === "join");
  }

  directRooms() {
    const content = this.client.getAccountData("m.direct")?.getContent() || {};
    return new Set(Object.values(content).flat());
  }

  folders() {
    return M.readFolders(this.client.getAccountData(M.FOLDERS_TYPE)?.getContent());
  }

  muted(roomId) {
    const rules = this.client.pushRules?.global?.override || [];
    return rules.some((rule) => M.isMuteRule(rule, roomId));
  }

  markedUnread(room) {
    return M.MARKED_UNREAD.some((type) => room.getAccountData(type)?.getContent()?.unread);
  }

  unread(room) {
    return room.getUnreadNotificationCount(NotificationCountType.Total) || 0;
  }

  /** A chat's name; a personal chat the other person has not opened yet is named after them. */
  nameOf(room) {
    const name = room.name || "";
    if (!/^Empty room/.test(name)) return name;
    const direct = this.client.getAccountData("m.direct")?.getContent() || {};
    const other = this.directTo.get(room.roomId)
      || Object.keys(direct).find((user) => (direct[user] || []).includes(room.roomId));
    if (!other) return this.t.untitled;  // never the SDK's English "Empty room"
    return room.getMember(other)?.name || this.names.get(other) || other;
  }

  /**
   * The spaces a chat names as its parent, where the parent's own people put it there: the
   * school lists only «Объявления» among its children (a student must not see every chat of
   * the school), the others point at it with `m.space.parent`.
   */
  parentsOf(room) {
    return room.currentState
      .getStateEvents("m.space.parent")
      .filter((e) => Array.isArray(e.getContent().via) && e.getContent().via.length)
      .filter((e) => this.mayPlaceIn(e.getStateKey(), e.getSender()))
      .map((e) => e.getStateKey());
  }

  mayPlaceIn(spaceId, sender) {
    const space = this.client.getRoom(spaceId);
    if (!space) return false;
    // matrix-js-sdk 37 reports a room-v12 creator's power as 0: ask the create event too.
    const creator = space.currentState.getStateEvents("m.room.create", "")?.getSender();
    return sender === creator || space.currentState.maySendStateEvent("m.space.child", sender);
  }

  pinOrder(room) {
    const tag = room.tags?.[M.PIN_TAG];
    return tag ? Number(tag.order ?? 0.5) : null;
  }

  rooms() {
    const direct = this.directRooms();
    return this.joined().map((room) => ({
      id: room.roomId,
      name: this.nameOf(room),
      isSpace: room.isSpaceRoom(),
      isDirect: direct.has(room.roomId),
      children: room.currentState
        .getStateEvents("m.space.child")
        .filter((e) => Array.isArray(e.getContent().via) && e.getContent().via.length)
        .map((e) => e.getStateKey()),
      parents: this.parentsOf(room),
      pinOrder: this.pinOrder(room),
      ts: room.getLastActiveTimestamp() || 0,
    }));
  }
}

class Messenger extends withTeacher(withSettings(withChat(withList(Core)))) {}
