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
import { clear, h, time } from "./dom.js";
import * as M from "./model.js";
import { forget, signIn } from "./session.js";
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

class Messenger {
  constructor(el, client, cfg, t) {
    this.el = el;
    this.client = client;
    this.cfg = cfg;
    this.t = t;
    this.me = client.getUserId();
    this.roomId = null;
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
    if (!other) return name;
    return room.getMember(other)?.name || this.names.get(other) || other;
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
      pinOrder: this.pinOrder(room),
      ts: room.getLastActiveTimestamp() || 0,
    }));
  }

  // ---- the list -----------------------------------------------------------------------------

  renderList() {
    const t = this.t;
    const folders = this.folders();
    if (this.folder !== "all" && !folders.some((f) => f.id === this.folder)) this.folder = "all";
    clear(this.folderBar).append(
      this.folderButton("all", t.allChats),
      ...folders.map((f) => this.folderButton(f.id, f.name)),
      h("button", { type: "button", class: "m-add", onClick: () => this.newFolder() }, `+ ${t.newFolder}`),
    );
    const query = this.search.value.trim().toLocaleLowerCase();
    const inFolder = this.folder === "all" ? null : new Set(folders.find((f) => f.id === this.folder).rooms);
    const rooms = this.rooms().filter(
      (r) =>
        r.isSpace ||
        ((!inFolder || inFolder.has(r.id)) && (!query || r.name.toLocaleLowerCase().includes(query))),
    );
    const groups = M.groupChats(rooms, t);
    clear(this.list);
    const invites = this.client.getRooms().filter((r) => r.getMyMembership() === "invite");
    if (invites.length) this.list.append(this.invitations(invites));
    if (!groups.length && !invites.length) this.list.append(h("p", { class: "empty" }, t.noChats));
    for (const group of groups) {
      const total = group.chats.reduce((n, r) => n + this.unread(this.client.getRoom(r.id)), 0);
      const heading = h(
        "h2",
        { class: "m-group-name" },
        group.name,
        total
          ? h("span", { class: "badge", "aria-label": t.unread(total), "data-testid": "space-unread" }, String(total))
          : null,
      );
      const items = group.chats.map((r) => h("li", {}, this.chatButton(this.client.getRoom(r.id))));
      this.list.append(
        h(
          "section",
          { class: "m-group", "data-testid": `group-${group.id}`, "aria-label": group.name },
          heading,
          h("ul", { class: "m-chats" }, items),
        ),
      );
    }
  }

  /** Chats someone invited the person to (a personal chat, a teacher's chat): accept or not. */
  invitations(rooms) {
    const t = this.t;
    const items = rooms.map((room) => {
      const member = room.getMember(this.me);
      const inviter = member?.events?.member?.getSender();
      const by = inviter ? (room.getMember(inviter)?.name || inviter) : "";
      const direct = Boolean(member?.events?.member?.getContent()?.is_direct);
      const name = direct && by ? by : this.nameOf(room);
      return h("li", { class: "m-invite", "data-room-id": room.roomId },
        h("span", { class: "m-chat-name" }, name),
        by ? h("span", { class: "m-chat-last" }, t.invitedBy(by)) : null,
        h("span", { class: "m-invite-actions" },
          h("button", { type: "button", class: "primary", onClick: () => this.accept(room, inviter, direct) }, t.accept),
          h("button", { type: "button", onClick: () => this.decline(room) }, t.decline)));
    });
    return h("section", { class: "m-group", "data-testid": "group-invites", "aria-label": t.invites },
      h("h2", { class: "m-group-name" }, t.invites), h("ul", { class: "m-chats" }, items));
  }

  async accept(room, inviter, direct) {
    try {
      await this.client.joinRoom(room.roomId);
      if (direct && inviter) {
        const content = this.client.getAccountData("m.direct")?.getContent() || {};
        const known = content[inviter] || [];
        if (!known.includes(room.roomId)) {
          await this.client.setAccountData("m.direct", { ...content, [inviter]: [...known, room.roomId] });
        }
        this.directTo.set(room.roomId, inviter);
      }
      await this.open(room.roomId);
    } catch (e) {
      this.fail(e.data?.error || e.message);
    }
  }

  async decline(room) {
    try {
      await this.client.leave(room.roomId);
      this.say(this.t.declined);
    } catch (e) {
      this.fail(e.data?.error || e.message);
    }
  }

  folderButton(id, name) {
    return h(
      "button",
      {
        type: "button",
        "aria-pressed": this.folder === id ? "true" : "false",
        onClick: () => {
          this.folder = id;
          this.renderList();
        },
      },
      name,
    );
  }

  chatButton(room) {
    const t = this.t;
    const count = this.unread(room);
    const marked = this.markedUnread(room);
    const last = this.lastMessage(room);
    const flags = [];
    if (this.pinOrder(room) !== null) flags.push(h("span", { class: "flag", title: t.pinned }, "★"));
    if (this.muted(room.roomId)) flags.push(h("span", { class: "flag muted" }, t.muted));
    const label = [this.nameOf(room), count ? t.unread(count) : "", marked ? t.markedUnread : "",
      this.muted(room.roomId) ? t.muted : ""].filter(Boolean).join(", ");
    return h(
      "button",
      {
        type: "button",
        class: `m-chat-item${room.roomId === this.roomId ? " current" : ""}`,
        "aria-current": room.roomId === this.roomId ? "true" : null,
        "aria-label": label,
        "data-room-id": room.roomId,
        onClick: () => this.open(room.roomId),
      },
      h("span", { class: "m-chat-name" }, this.nameOf(room), ...flags),
      h("span", { class: "m-chat-last" }, last),
      count
        ? h("span", { class: "badge", "data-testid": "unread" }, String(count))
        : marked
          ? h("span", { class: "badge dot", "data-testid": "marked-unread" }, "•")
          : null,
    );
  }

  lastMessage(room) {
    const events = room.getLiveTimeline().getEvents();
    for (let i = events.length - 1; i >= 0; i -= 1) {
      const e = events[i];
      if (e.getType() === "m.room.message" || M.POLL_START.includes(e.getType())) {
        const who = e.getSender() === this.me ? this.t.you : (e.sender?.name || e.getSender());
        return `${who}: ${M.stripReplyFallback(e.getContent().body || this.t.poll)}`.slice(0, 80);
      }
    }
    return "";
  }

  // ---- one chat -----------------------------------------------------------------------------

  openFromHash() {
    const match = /room=([^&]+)/.exec(location.hash);
    if (match) {
      const id = decodeURIComponent(match[1]);
      // A chat joined a moment ago (an invite link) may come in a later sync: open it then.
      if (this.client.getRoom(id)?.getMyMembership() === "join") this.open(id);
      else this.pending = id;
    }
  }

  async open(roomId) {
    this.pending = null;
    this.roomId = roomId;
    this.replyTo = null;
    this.el.classList.add("showing-chat");
    if (location.hash !== `#room=${encodeURIComponent(roomId)}`) {
      history.replaceState(null, "", `${location.pathname}${location.search}#room=${encodeURIComponent(roomId)}`);
    }
    this.chatDrawn = null;
    this.renderList();
    this.renderChat();
    this.composer?.focus();
    const room = this.client.getRoom(roomId);
    if (room && this.markedUnread(room)) {
      await this.client.setRoomAccountData(roomId, M.MARKED_UNREAD[0], { unread: false });
    }
  }

  renderEmptyChat(text) {
    clear(this.chatPane).append(h("p", { class: "empty m-choose" }, text));
  }

  renderChat() {
    const room = this.client.getRoom(this.roomId);
    if (!room) return this.renderEmptyChat(this.t.chooseChat);
    if (this.chatDrawn !== room.roomId) this.drawChatFrame(room);
    this.drawHeader(room);
    this.drawTimeline(room);
    this.drawTyping(room);
    this.drawReply();
    return undefined;
  }

  drawChatFrame(room) {
    const t = this.t;
    this.chatDrawn = room.roomId;
    this.header = h("header", { class: "m-chat-head" });
    this.timeline = h("ol", {
      class: "m-timeline",
      "aria-label": this.nameOf(room),
      "aria-live": "polite",
      "data-testid": "timeline",
    });
    this.typing = h("p", { class: "m-typing", "aria-live": "polite", "data-testid": "typing" });
    this.replyBar = h("div", { class: "m-reply" });
    this.composer = h("textarea", {
      id: "m-composer",
      rows: "2",
      placeholder: t.message,
      onInput: () => this.typingNow(true),
      onKeydown: (e) => {
        if (e.key === "Enter" && !e.shiftKey) {
          e.preventDefault();
          this.sendText();
        }
      },
    });
    this.file = h("input", {
      type: "file",
      id: "m-file",
      multiple: true,
      class: "visually-hidden",
      "aria-label": t.attach,
      onChange: () => this.sendFiles(),
    });
    const form = h(
      "form",
      {
        class: "m-compose",
        onSubmit: (e) => {
          e.preventDefault();
          this.sendText();
        },
      },
      h("label", { for: "m-composer", class: "visually-hidden" }, t.message),
      this.composer,
      this.file,
      h("button", { type: "button", title: t.attach, "aria-label": t.attach, onClick: () => this.file.click() }, t.file),
      h("button", { type: "button", onClick: () => this.newPoll() }, t.poll),
      h("button", { type: "submit", class: "primary" }, t.send),
    );
    clear(this.chatPane).append(this.header, this.timeline, this.typing, this.replyBar, form);
    this.chatPane.setAttribute("aria-label", this.nameOf(room));
  }

  drawHeader(room) {
    const t = this.t;
    const pinned = this.pinOrder(room) !== null;
    const muted = this.muted(room.roomId);
    const folders = this.folders();
    const current = folders.find((f) => f.rooms.includes(room.roomId));
    const select = h(
      "select",
      { id: "m-folder", onChange: (e) => this.moveToFolder(room.roomId, e.target.value || null) },
      h("option", { value: "" }, t.noFolder),
      ...folders.map((f) => h("option", { value: f.id, selected: current?.id === f.id }, f.name)),
    );
    clear(this.header).append(
      h("button", { type: "button", class: "m-back", onClick: () => this.closeChat() }, `← ${t.back}`),
      h("h2", { class: "m-chat-title", "data-testid": "chat-title" }, this.nameOf(room)),
      h(
        "div",
        { class: "m-actions" },
        h("button", { type: "button", "aria-pressed": String(pinned), onClick: () => this.togglePin(room) },
          pinned ? t.unpin : t.pin),
        h("button", { type: "button", "aria-pressed": String(muted), onClick: () => this.toggleMute(room.roomId) },
          muted ? t.unmute : t.mute),
        h("button", { type: "button", onClick: () => this.markUnread(room.roomId) }, t.markUnread),
        h("label", { for: "m-folder", class: "m-folder-label" }, t.folder),
        select,
      ),
    );
  }

  closeChat() {
    this.roomId = null;
    this.chatDrawn = null;
    this.el.classList.remove("showing-chat");
    history.replaceState(null, "", `${location.pathname}${location.search}`);
    this.renderEmptyChat(this.t.chooseChat);
    this.renderList();
  }

  drawTimeline(room) {
    const t = this.t;
    const events = room.getLiveTimeline().getEvents();
    const responses = events
      .filter((e) => M.POLL_RESPONSE.includes(e.getType()))
      .map((e) => ({ type: e.getType(), sender: e.getSender(), ts: e.getTs(), content: e.getContent() }));
    const ends = new Map(
      events
        .filter((e) => M.POLL_END.includes(e.getType()))
        .map((e) => [e.getContent()["m.relates_to"]?.event_id, e.getTs()]),
    );
    const shown = events.filter(
      (e) => (e.getType() === "m.room.message" && !e.isRedacted())
        || M.POLL_START.includes(e.getType())
        || e.getType() === "m.room.encrypted",
    );
    const atBottom =
      this.timeline.scrollHeight - this.timeline.scrollTop - this.timeline.clientHeight < 40;
    clear(this.timeline);
    if (!shown.length) this.timeline.append(h("li", { class: "empty" }, t.emptyChat));
    const lastMine = [...shown].reverse().find((e) => e.getSender() === this.me);
    for (const e of shown) {
      const item = this.message(room, e, responses, ends);
      if (e === lastMine) {
        const readers = room.getUsersReadUpTo(e).filter((u) => u !== this.me);
        if (readers.length) item.append(h("span", { class: "m-read", "data-testid": "read" }, `✓ ${t.read}`));
      }
      this.timeline.append(item);
    }
    if (atBottom || !this.scrolled) {
      this.timeline.scrollTop = this.timeline.scrollHeight;
      this.scrolled = true;
    }
    const last = events[events.length - 1];
    if (last && last.getSender() !== this.me && document.visibilityState === "visible"
        && !room.hasUserReadEvent(this.me, last.getId())) {
      this.client.sendReadReceipt(last).catch(() => {});
    }
  }

  message(room, e, responses, ends) {
    const t = this.t;
    const content = e.getContent();
    const mine = e.getSender() === this.me;
    const who = mine ? t.you : (e.sender?.name || e.getSender());
    const item = h("li", { class: `m-msg${mine ? " mine" : ""}`, "data-event-id": e.getId() });
    item.append(h("div", { class: "m-meta" }, h("span", { class: "m-sender" }, who), " ",
      h("time", { datetime: new Date(e.getTs()).toISOString() }, time(e.getTs(), this.cfg.lang))));
    const parentId = content["m.relates_to"]?.["m.in_reply_to"]?.event_id;
    if (parentId) {
      const parent = room.findEventById(parentId);
      const quote = parent ? M.stripReplyFallback(parent.getContent().body || "") : "…";
      const by = parent ? (parent.sender?.name || parent.getSender()) : "";
      item.append(h("blockquote", { class: "m-quote" }, by ? `${by}: ` : "", quote.slice(0, 140)));
    }
    const poll = M.parsePoll(e.getType(), content);
    if (poll) item.append(this.pollView(room, e, poll, responses, ends.get(e.getId()) ?? null));
    else if (e.getType() === "m.room.encrypted") item.append(h("p", { class: "m-text hint" }, t.encrypted));
    else item.append(this.body(content));
    item.append(
      h("div", { class: "m-msg-actions" },
        h("button", { type: "button", class: "link", onClick: () => this.startReply(e) }, t.reply),
        poll ? null : h("button", { type: "button", class: "link", onClick: () => this.forward(e) }, t.forward)),
    );
    return item;
  }

  body(content) {
    const t = this.t;
    const type = content.msgtype;
    const name = content.body || "";
    if (type === "m.image" && content.url) {
      const img = h("img", { class: "m-image", alt: name, "data-testid": "image-preview" });
      this.loadMedia(content.url, true).then((url) => { if (url) img.src = url; });
      return h("figure", { class: "m-figure" }, img, h("figcaption", {}, name));
    }
    if (type === "m.video" && content.url) {
      const video = h("video", {
        class: "m-video", controls: true, preload: "metadata", "aria-label": name, "data-testid": "video",
      });
      this.loadMedia(content.url, false).then((url) => { if (url) video.src = url; });
      return h("figure", { class: "m-figure" }, video, h("figcaption", {}, name));
    }
    if ((type === "m.file" || type === "m.audio") && content.url) {
      const size = content.info?.size ? ` (${Math.ceil(content.info.size / 1024)} КБ)` : "";
      return h("button", { type: "button", class: "m-file", "data-testid": "file",
        onClick: () => this.download(content.url, name) }, `${name}${size} — ${t.download}`);
    }
    return h("p", { class: "m-text" }, linkify(M.stripReplyFallback(name)));
  }

  pollView(room, e, poll, responses, endedAt) {
    const t = this.t;
    const tally = M.tallyPoll(poll, e.getId(), responses, endedAt);
    const mine = tally.voters.get(this.me) || [];
    return h(
      "fieldset",
      { class: "m-poll", "data-testid": "poll" },
      h("legend", {}, `${t.poll}: ${poll.question}`),
      ...poll.answers.map((a) => h(
        "button",
        {
          type: "button",
          class: "m-answer",
          "aria-pressed": mine.includes(a.id) ? "true" : "false",
          disabled: endedAt !== null,
          onClick: () => this.vote(room.roomId, e.getId(), a.id),
        },
        h("span", {}, a.text),
        h("span", { class: "m-votes", "data-testid": "votes" }, t.votes(tally.counts[a.id])),
      )),
    );
  }

  drawTyping(room) {
    const names = room.currentState
      .getMembers()
      .filter((m) => m.typing && m.userId !== this.me)
      .map((m) => m.name);
    this.typing.textContent = names.length ? this.t.typing(names) : "";
  }

  drawReply() {
    clear(this.replyBar);
    if (!this.replyTo) return;
    this.replyBar.append(
      h("span", {}, this.t.replyingTo(this.replyTo.senderName), ": ", this.replyTo.body.slice(0, 80)),
      h("button", { type: "button", class: "link", onClick: () => { this.replyTo = null; this.drawReply(); } },
        this.t.cancel),
    );
  }

  startReply(e) {
    this.replyTo = {
      eventId: e.getId(),
      sender: e.getSender(),
      senderName: e.sender?.name || e.getSender(),
      body: M.stripReplyFallback(e.getContent().body || ""),
    };
    this.drawReply();
    this.composer.focus();
  }

  // ---- sending ------------------------------------------------------------------------------

  typingNow(on) {
    const now = Date.now();
    if (on && now - this.lastTyping < 4000) return;
    this.lastTyping = on ? now : 0;
    this.client.sendTyping(this.roomId, on, 6000).catch(() => {});
  }

  async sendText() {
    const body = this.composer.value.trim();
    if (!body || !this.roomId) return;
    const content = this.replyTo ? M.replyContent(body, this.replyTo) : { msgtype: "m.text", body };
    this.composer.value = "";
    this.replyTo = null;
    this.drawReply();
    this.typingNow(false);
    try {
      await this.client.sendMessage(this.roomId, content);
    } catch (e) {
      this.composer.value = body;
      this.fail(`${this.t.failed}: ${e.message}`);
    }
  }

  async sendFiles() {
    const roomId = this.roomId;
    for (const file of [...this.file.files]) {
      this.say(this.t.uploading(file.name));
      try {
        const type = file.type || "application/octet-stream";
        const { content_uri: url } = await this.client.uploadContent(file, { name: file.name, type });
        const info = { mimetype: type, size: file.size };
        if (type.startsWith("image/")) {
          try {
            const bitmap = await createImageBitmap(file);
            info.w = bitmap.width;
            info.h = bitmap.height;
          } catch { /* not an image the browser can read: sent as it is */ }
        }
        await this.client.sendMessage(roomId, { msgtype: M.msgtypeFor(type), body: file.name, url, info });
        this.say(this.t.sent);
      } catch (e) {
        this.fail(`${this.t.failed}: ${e.message}`);
      }
    }
    this.file.value = "";
  }

  async vote(roomId, pollId, answerId) {
    try {
      await this.client.sendEvent(roomId, M.POLL_RESPONSE[0], M.pollResponseContent(pollId, answerId));
    } catch (e) {
      this.fail(`${this.t.failed}: ${e.message}`);
    }
  }

  // ---- media (authenticated, as Synapse serves it) ----------------------------------------

  async loadMedia(mxc, thumbnail) {
    const key = `${mxc}|${thumbnail}`;
    if (this.media.has(key)) return this.media.get(key);
    const match = /^mxc:\/\/([^/]+)\/([^/?#]+)$/.exec(mxc);
    if (!match) return null;
    const base = `${this.cfg.homeserver}/_matrix/client/v1/media`;
    const path = `${encodeURIComponent(match[1])}/${encodeURIComponent(match[2])}`;
    const urls = thumbnail
      ? [`${base}/thumbnail/${path}?width=480&height=360&method=scale`, `${base}/download/${path}`]
      : [`${base}/download/${path}`];
    const promise = (async () => {
      for (const url of urls) {
        const answer = await fetch(url, {
          headers: { Authorization: `Bearer ${this.client.getAccessToken()}` },
        });
        if (answer.ok) return URL.createObjectURL(await answer.blob());
      }
      return null;
    })();
    this.media.set(key, promise);
    return promise;
  }

  async download(mxc, name) {
    const url = await this.loadMedia(mxc, false);
    if (!url) return this.fail(this.t.failed);
    const a = h("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    return undefined;
  }

  // ---- chat settings that follow the person -----------------------------------------------

  async togglePin(room) {
    try {
      if (this.pinOrder(room) !== null) {
        await this.client.deleteRoomTag(room.roomId, M.PIN_TAG);
        return;
      }
      const pin = M.nextPin(this.joined().map((r) => this.pinOrder(r)));
      if (!pin.ok) {
        this.fail(this.t.pinLimit);
        return;
      }
      await this.client.setRoomTag(room.roomId, M.PIN_TAG, { order: pin.order });
      this.say(this.t.pinned);
    } catch (e) {
      this.fail(`${this.t.failed}: ${e.message}`);
    }
  }

  async toggleMute(roomId) {
    try {
      if (this.muted(roomId)) await this.client.deletePushRule("global", "override", roomId);
      else await this.client.addPushRule("global", "override", roomId, M.muteRule(roomId));
      this.client.pushRules = await this.client.getPushRules();
      this.say(this.muted(roomId) ? this.t.muted : this.t.unmute);
      this.schedule();
    } catch (e) {
      this.fail(`${this.t.failed}: ${e.message}`);
    }
  }

  async markUnread(roomId) {
    await this.client.setRoomAccountData(roomId, M.MARKED_UNREAD[0], { unread: true });
    this.closeChat();
    this.say(this.t.markedUnread);
  }

  async moveToFolder(roomId, folderId) {
    const folders = M.placeInFolder(this.folders(), roomId, folderId);
    await this.client.setAccountData(M.FOLDERS_TYPE, { folders });
    this.say(folderId ? this.t.toFolder : this.t.removeFromFolder);
  }

  // ---- dialogs ------------------------------------------------------------------------------

  showDialog(title, ...content) {
    clear(this.dialog).append(
      h("h2", { id: "m-dialog-title" }, title),
      ...content,
      h("button", { type: "button", class: "m-close", onClick: () => this.dialog.close() }, this.t.close),
    );
    this.dialog.setAttribute("aria-labelledby", "m-dialog-title");
    if (!this.dialog.open) this.dialog.showModal();
  }

  newFolder() {
    const t = this.t;
    const name = h("input", { id: "m-folder-name", required: true, maxlength: "64" });
    const form = h("form", {
      onSubmit: async (e) => {
        e.preventDefault();
        if (!name.value.trim()) return;
        const id = `f${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
        await this.client.setAccountData(M.FOLDERS_TYPE, { folders: M.withFolder(this.folders(), name.value, id) });
        this.dialog.close();
        this.say(`${t.folder}: ${name.value.trim()}`);
      },
    }, h("label", { for: "m-folder-name" }, t.folderName), name, h("button", { type: "submit", class: "primary" }, t.create));
    this.showDialog(t.newFolder, form);
    name.focus();
  }

  newPoll() {
    const t = this.t;
    const roomId = this.roomId;
    const question = h("input", { id: "m-poll-q", required: true, maxlength: "300" });
    const answers = h("div", { class: "m-poll-answers" });
    const addAnswer = () => {
      const n = answers.children.length + 1;
      if (n > 10) return;
      answers.append(h("label", {}, t.answer(n), h("input", { class: "m-poll-a", maxlength: "100" })));
    };
    addAnswer();
    addAnswer();
    const form = h("form", {
      onSubmit: async (e) => {
        e.preventDefault();
        const options = [...answers.querySelectorAll("input")].map((i) => i.value.trim()).filter(Boolean);
        if (!question.value.trim() || options.length < 2) return;
        this.dialog.close();
        try {
          await this.client.sendEvent(roomId, M.POLL_START[0], M.pollStartContent(question.value.trim(), options));
        } catch (err) {
          this.fail(`${t.failed}: ${err.message}`);
        }
      },
    },
    h("label", { for: "m-poll-q" }, t.question), question, answers,
    h("button", { type: "button", onClick: addAnswer }, t.addAnswer),
    h("button", { type: "submit", class: "primary" }, t.create));
    this.showDialog(t.newPoll, form);
    question.focus();
  }

  forward(e) {
    const t = this.t;
    const content = M.forwardContent(e.getContent());
    const targets = this.joined()
      .filter((r) => !r.isSpaceRoom())
      .sort((a, b) => this.nameOf(a).localeCompare(this.nameOf(b)))
      .map((r) => h("li", {}, h("button", {
        type: "button",
        onClick: async () => {
          this.dialog.close();
          try {
            await this.client.sendMessage(r.roomId, content);
            this.say(`${t.forwarded}: «${this.nameOf(r)}»`);
          } catch (err) {
            this.fail(`${t.failed}: ${err.message}`);
          }
        },
      }, this.nameOf(r))));
    this.showDialog(t.forwardTo, h("ul", { class: "m-targets" }, targets));
  }

  async openNotifications() {
    const t = this.t;
    const rules = (await this.client.getPushRules()).global;
    const enabled = (id) => (rules.underride || []).find((r) => r.rule_id === id)?.enabled !== false;
    const group = h("input", { type: "checkbox", id: "m-n-group", checked: enabled(".m.rule.message") });
    const personal = h("input", { type: "checkbox", id: "m-n-personal", checked: enabled(".m.rule.room_one_to_one") });
    const form = h("form", {
      onSubmit: async (e) => {
        e.preventDefault();
        const set = async (id, on) => {
          try {
            await this.client.setPushRuleEnabled("global", "underride", id, on);
          } catch { /* a server without the encrypted variant */ }
        };
        await set(".m.rule.message", group.checked);
        await set(".m.rule.encrypted", group.checked);
        await set(".m.rule.room_one_to_one", personal.checked);
        await set(".m.rule.encrypted_room_one_to_one", personal.checked);
        this.client.pushRules = await this.client.getPushRules();
        this.dialog.close();
        this.say(t.save);
      },
    },
    h("p", {}, group, " ", h("label", { for: "m-n-group", class: "check" }, t.notifyGroup)),
    h("p", {}, personal, " ", h("label", { for: "m-n-personal", class: "check" }, t.notifyPersonal)),
    h("button", { type: "submit", class: "primary" }, t.save));
    this.showDialog(t.notifications, form);
  }

  async people() {
    const answer = await fetch(this.cfg.contactsUrl, { credentials: "same-origin" });
    if (!answer.ok) throw new Error(`${answer.status}`);
    return answer.json();
  }

  async openContacts() {
    const t = this.t;
    let data;
    try {
      data = await this.people();
    } catch (e) {
      this.fail(`${t.failed}: ${e.message}`);
      return;
    }
    const items = data.contacts.map((c) => h("li", { class: "m-contact" },
      h("span", { class: "m-contact-name" }, c.name), " ", h("span", { class: "hint" }, c.role),
      c.user_id
        ? h("button", { type: "button", onClick: () => this.openDirect(c.user_id, c.name) }, t.write)
        : h("span", { class: "hint" }, ` — ${t.notLinkedYet}`)));
    this.showDialog(t.contacts, h("p", { class: "hint" }, t.contactsHint), h("ul", { class: "m-contacts", "data-testid": "contacts" }, items));
  }

  async openSupport() {
    const t = this.t;
    let data;
    try {
      data = await this.people();
    } catch (e) {
      this.fail(`${t.failed}: ${e.message}`);
      return;
    }
    const s = data.support || {};
    this.showDialog(t.support,
      h("p", {}, s.text || t.supportHint),
      s.user_id ? h("button", { type: "button", class: "primary", onClick: () => this.openDirect(s.user_id, s.name || t.support) }, `${t.write}: ${s.name || s.user_id}`) : null,
      s.email ? h("p", {}, h("a", { href: `mailto:${s.email}` }, s.email)) : null,
      s.phone ? h("p", {}, s.phone) : null);
  }

  async openDirect(userId, name) {
    if (this.dialog.open) this.dialog.close();
    if (name) this.names.set(userId, name);
    const direct = this.client.getAccountData("m.direct")?.getContent() || {};
    const known = (direct[userId] || []).find((id) => this.client.getRoom(id)?.getMyMembership() === "join");
    if (known) return this.open(known);
    try {
      const { room_id: roomId } = await this.client.createRoom({
        is_direct: true,
        invite: [userId],
        preset: "trusted_private_chat",
      });
      this.directTo.set(roomId, userId);
      await this.client.setAccountData("m.direct", { ...direct, [userId]: [...(direct[userId] || []), roomId] });
      await waitForRoom(this.client, roomId);
      this.say(`${this.t.write}: ${name}`);
      return this.open(roomId);
    } catch (e) {
      this.fail(e.data?.error || e.message);
      return undefined;
    }
  }
}

/** Text with its web addresses as links (http and https only; the text stays text). */
function linkify(text) {
  return M.splitLinks(text).map((part) =>
    part.link ? h("a", { href: part.text, rel: "noopener noreferrer", target: "_blank" }, part.text) : part.text,
  );
}

function waitForRoom(client, roomId) {
  if (client.getRoom(roomId)) return Promise.resolve();
  return new Promise((resolve) => {
    const seen = (room) => {
      if (room.roomId === roomId) {
        client.off(ClientEvent.Room, seen);
        resolve();
      }
    };
    client.on(ClientEvent.Room, seen);
  });
}
