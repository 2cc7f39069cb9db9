// One chat: its header, the timeline (messages, media, polls, replies), typing, and sending.

import { clear, h, keepSame, time } from "./dom.js";
import * as M from "./model.js";
export const withChat = (Base) =>
  class extends Base {
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
      this.editing = null;
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
      this.drawComposer(room);
      return undefined;
    }

    /** The message box only where the person may write; a notice saying so elsewhere. */
    drawComposer(room) {
      const allowed = this.mayWrite(room);
      this.form.hidden = !allowed;
      this.readOnly.hidden = allowed;
    }

    mayWrite(room) {
      const levels = room.currentState.getStateEvents("m.room.power_levels", "")?.getContent();
      const create = room.currentState.getStateEvents("m.room.create", "");
      return M.maySendMessages(
        levels, create ? { sender: create.getSender(), content: create.getContent() } : null, this.me,
      );
    }

    drawChatFrame(room) {
      const t = this.t;
      this.chatDrawn = room.roomId;
      this.scrolled = false;
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
      this.form = form;
      this.readOnly = h("p", { class: "m-readonly hint", "data-testid": "read-only", hidden: true }, t.readOnly);
      clear(this.chatPane).append(this.header, this.timeline, this.typing, this.replyBar, form, this.readOnly);
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
      const running = M.runningCall(room.currentState.getStateEvents(...M.CALL_WIDGET)?.getContent());
      // a call: joined where one runs; started by those who may write here (the bridge
      // announces a call only for them)
      const call = running || (this.cfg.callBridge && this.mayWrite(room))
        ? h("a", {
          class: "button m-call", href: running || M.callUrl(this.cfg.callBridge, room.roomId),
          target: "_blank", rel: "noopener", "data-testid": "call",
        }, running ? t.joinCall : t.call)
        : null;
      const teacher = this.teachesHere(room)
        ? h("button", { type: "button", "data-testid": "teacher", onClick: () => this.openTeacher(room) }, t.teacher)
        : null;
      const expanded = this.moreOpen === room.roomId;
      keepSame(this.header, [
        h("button", { type: "button", class: "m-back", onClick: () => this.closeChat() }, `← ${t.back}`),
        h("h2", { class: "m-chat-title", "data-testid": "chat-title" }, this.nameOf(room)),
        call,
        teacher,
        h("button", {
          type: "button", class: "m-more", "aria-expanded": String(expanded), "aria-controls": "m-actions",
          onClick: () => { this.moreOpen = expanded ? null : room.roomId; this.drawHeader(room); },
        }, t.more),
        h(
          "div",
          { class: `m-actions${expanded ? " open" : ""}`, id: "m-actions", "data-keep": "actions" },
          h("button", { type: "button", "aria-pressed": String(pinned), onClick: () => this.togglePin(room) },
            pinned ? t.unpin : t.pin),
          h("button", { type: "button", "aria-pressed": String(muted), onClick: () => this.toggleMute(room.roomId) },
            muted ? t.unmute : t.mute),
          h("button", { type: "button", onClick: () => this.markUnread(room.roomId) }, t.markUnread),
          h("label", { for: "m-folder", class: "m-folder-label" }, t.folder),
          select,
        ),
      ].filter(Boolean));
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
      const edits = M.latestEdits(
        events
          .filter((e) => e.getType() === "m.room.message")
          .map((e) => ({ id: e.getId(), sender: e.getSender(), ts: e.getTs(), content: e.getContent() })),
      );
      const shown = events.filter(
        (e) => (e.getType() === "m.room.message" && !M.isEdit(e.getContent()))
          || M.POLL_START.includes(e.getType())
          || e.getType() === "m.room.encrypted",
      );
      this.edits = edits;
      const atBottom =
        this.timeline.scrollHeight - this.timeline.scrollTop - this.timeline.clientHeight < 40;
      const items = [];
      const timeline = room.getLiveTimeline();
      const first = timeline.getEvents()[0];
      if (timeline.getPaginationToken("b") && first?.getType() !== "m.room.create") {
        items.push(h("li", { class: "m-older" }, h("button", {
          type: "button", class: "link", "data-testid": "older", onClick: () => this.older(room),
        }, t.older)));
      }
      if (!shown.length) items.push(h("li", { class: "empty" }, t.emptyChat));
      const lastMine = [...shown].reverse().find((e) => e.getSender() === this.me);
      // «Прочитали N из M» under a member of staff's own latest messages in a group chat
      const counted = this.cfg.staff && room.getJoinedMemberCount() > 2
        ? new Set(shown.filter((e) => e.getSender() === this.me && e.getId()?.startsWith("$"))
          .slice(-5).map((e) => e.getId()))
        : new Set();
      for (const e of shown) {
        const item = this.message(room, e, responses, ends);
        if (counted.has(e.getId())) item.append(this.readCount(room.roomId, e.getId()));
        if (e === lastMine) {
          const readers = room.getUsersReadUpTo(e).filter((u) => u !== this.me);
          if (readers.length) item.append(h("span", { class: "m-read", "data-testid": "read" }, `✓ ${t.read}`));
        }
        items.push(item);
      }
      // what has not changed stays as it is: a press or the focus on it survives the redraw
      keepSame(this.timeline, items);
      if (this.keepFromBottom !== null && this.keepFromBottom !== undefined) {
        this.timeline.scrollTop = this.timeline.scrollHeight - this.keepFromBottom;
        this.keepFromBottom = null;
        this.timeline.querySelector(".m-older button")?.focus();
      } else if (atBottom || !this.scrolled) {
        this.timeline.scrollTop = this.timeline.scrollHeight;
        this.scrolled = true;
      }
      const last = events[events.length - 1];
      if (last && last.getSender() !== this.me && document.visibilityState === "visible"
          && !room.hasUserReadEvent(this.me, last.getId())) {
        this.client.sendReadReceipt(last).catch(() => {});
      }
    }

    /** «Прочитали N из M», counted by the server (the appservice reads the receipts), kept
     * a few seconds; pressed, it lists who has read and who has not. */
    readCount(roomId, eventId) {
      const t = this.t;
      const known = this.readers.get(eventId);
      const button = known?.answer
        ? h("button", { type: "button", class: "link m-read-count", "data-testid": "read-count",
          onClick: () => this.showReaders(eventId) },
          t.readBy(known.answer.read.length, known.answer.read.length + known.answer.unread.length))
        : h("span", { class: "m-read-count" });  // until the server has counted
      if (!known || Date.now() - known.at > 3000) {
        this.readers.set(eventId, { at: Date.now(), answer: known?.answer });
        fetch(`/chats/readers?room=${encodeURIComponent(roomId)}&event=${encodeURIComponent(eventId)}`,
          { credentials: "same-origin" })
          .then((r) => (r.ok ? r.json() : null))
          .then((answer) => {
            if (!answer) return;
            const before = JSON.stringify(this.readers.get(eventId)?.answer);
            this.readers.set(eventId, { at: Date.now(), answer });
            if (before !== JSON.stringify(answer)) this.renderChat();
          })
          .catch(() => {});
      }
      if (known?.answer?.unread.length && !this.readersTimer) {
        // receipts reach the server's count a moment after they reach this page: look again
        this.readersTimer = setTimeout(() => {
          this.readersTimer = null;
          if (this.roomId === roomId) this.renderChat();
        }, 4000);
      }
      return button;
    }

    showReaders(eventId) {
      const t = this.t;
      const answer = this.readers.get(eventId)?.answer;
      if (!answer) return;
      const list = (names) => h("ul", { class: "m-readers" }, names.map((n) => h("li", {}, n)));
      this.showDialog(t.whoRead,
        h("h3", {}, t.readTitle(answer.read.length)), list(answer.read),
        h("h3", {}, t.unreadTitle(answer.unread.length)), list(answer.unread));
    }

    /** Earlier messages from the server, the view kept where the person was reading. */
    async older(room) {
      const fromBottom = this.timeline.scrollHeight - this.timeline.scrollTop;
      try {
        await this.client.scrollback(room, 30);
      } catch (e) {
        this.fail(`${this.t.failed}: ${e.message}`);
        return;
      }
      this.keepFromBottom = fromBottom;
      this.renderChat();
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
      const edited = this.edits?.get(e.getId());
      if (e.isRedacted()) item.append(h("p", { class: "m-text hint", "data-testid": "deleted" }, t.deleted));
      else if (poll) item.append(this.pollView(room, e, poll, responses, ends.get(e.getId()) ?? null));
      else if (e.getType() === "m.room.encrypted") item.append(h("p", { class: "m-text hint" }, t.encrypted));
      else item.append(this.body(edited || content));
      if (edited && !e.isRedacted()) item.append(h("span", { class: "hint", "data-testid": "edited" }, t.edited));
      if (e.isRedacted()) return item;
      if (e.status === "not_sent") {
        item.classList.add("m-failed");
        item.append(h("div", { class: "m-msg-actions", "data-testid": "not-sent" },
          h("span", { class: "error" }, t.notSent), " ",
          h("button", { type: "button", class: "link", onClick: () => this.retry(room, e) }, t.retry),
          h("button", { type: "button", class: "link", onClick: () => this.drop(e) }, t.remove)));
        return item;
      }
      const ownText = mine && e.getType() === "m.room.message" && (edited || content).msgtype === "m.text";
      item.append(
        h("div", { class: "m-msg-actions" },
          h("button", { type: "button", class: "link", onClick: () => this.startReply(e) }, t.reply),
          !mine && M.isHomework(content)
            ? h("button", { type: "button", class: "link", "data-testid": "hand-in",
              onClick: () => { this.startReply(e); this.file.click(); } }, t.handIn)
            : null,
          poll ? null : h("button", { type: "button", class: "link", onClick: () => this.forward(e) }, t.forward),
          ownText ? h("button", { type: "button", class: "link", onClick: () => this.startEdit(e, edited || content) }, t.edit) : null,
          mine ? h("button", { type: "button", class: "link", onClick: () => this.askRemove(room.roomId, e) }, t.remove) : null,
          mine ? null : h("button", { type: "button", class: "link", "data-testid": "report",
            onClick: () => this.askReport(room.roomId, e) }, t.report)),
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
      if (content.format === "org.matrix.custom.html" && typeof content.formatted_body === "string") {
        return h("div", { class: "m-text", "data-testid": "formatted" }, ...formatted(content.formatted_body));
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
      if (this.editing) {
        this.replyBar.append(
          h("span", { "data-testid": "editing" }, this.t.editing),
          h("button", { type: "button", class: "link", onClick: () => {
            this.editing = null;
            this.composer.value = "";
            this.drawReply();
          } }, this.t.cancel),
        );
        return;
      }
      if (!this.replyTo) return;
      this.replyBar.append(
        h("span", {}, this.t.replyingTo(this.replyTo.senderName), ": ", this.replyTo.body.slice(0, 80)),
        h("button", { type: "button", class: "link", onClick: () => { this.replyTo = null; this.drawReply(); } },
          this.t.cancel),
      );
    }

    startEdit(e, content) {
      this.replyTo = null;
      this.editing = { eventId: e.getId() };
      this.composer.value = M.stripReplyFallback(content.body || "");
      this.drawReply();
      this.composer.focus();
    }

    askRemove(roomId, e) {
      const t = this.t;
      this.showDialog(t.removeQuestion,
        h("button", { type: "button", class: "primary", onClick: async () => {
          this.dialog.close();
          try {
            await this.client.redactEvent(roomId, e.getId());
          } catch (err) {
            this.fail(`${t.failed}: ${err.message}`);
          }
        } }, t.remove));
    }

    /** «Пожаловаться»: the standard Matrix report, which reaches the school's moderators. */
    askReport(roomId, e) {
      const t = this.t;
      const reason = h("textarea", { id: "m-report-reason", rows: "3", maxlength: "1000" });
      const form = h("form", {
        class: "m-form",
        onSubmit: async (ev) => {
          ev.preventDefault();
          this.dialog.close();
          try {
            await this.client.reportEvent(roomId, e.getId(), -100, reason.value.trim());
            this.say(t.reported);
          } catch (err) {
            this.fail(M.refusalOf(err, t));
          }
        },
      },
      h("p", { class: "hint" }, t.reportHint),
      h("label", { for: "m-report-reason" }, t.reportReason), reason,
      h("button", { type: "submit", class: "primary" }, t.sendReport));
      this.showDialog(t.reportTitle, form);
      reason.focus();
    }

    startReply(e) {
      this.editing = null;
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
      const content = this.editing
        ? M.editContent(this.editing.eventId, body)
        : this.replyTo ? M.replyContent(body, this.replyTo) : { msgtype: "m.text", body };
      this.composer.value = "";
      this.replyTo = null;
      this.editing = null;
      this.drawReply();
      this.typingNow(false);
      try {
        await this.client.sendMessage(this.roomId, content);
      } catch (e) {
        this.fail(M.refusalOf(e, this.t));  // the message stays, marked «Не отправлено»
        this.renderChat();
      }
    }

    async retry(room, event) {
      try {
        await this.client.resendEvent(event, room);
        this.say(this.t.sent);
      } catch (e) {
        this.fail(M.refusalOf(e, this.t));
      }
      this.renderChat();
    }

    drop(event) {
      this.client.cancelPendingEvent(event);
      this.renderChat();
    }

    async sendFiles() {
      const roomId = this.roomId;
      const replyTo = this.replyTo;  // «Сдать задание», or «Ответить» then «Файл»
      this.replyTo = null;
      this.drawReply();
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
          await this.client.sendMessage(roomId, M.fileContent(file.name, url, info, replyTo));
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
  };

/** A message's HTML as the page's own nodes: simple formatting and http(s) links only,
 * everything else as its text (no attribute but a link's address survives); the reply
 * fallback is left out. A bot's «Присоединиться» link is drawn as a button. */
function formatted(html) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  const copy = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return [node.textContent];
    if (node.nodeType !== Node.ELEMENT_NODE || node.tagName === "MX-REPLY") return [];
    const children = [...node.childNodes].flatMap(copy);
    if (!M.keptTag(node.tagName)) return children;
    if (node.tagName === "A") {
      const href = M.safeHref(node.getAttribute("href"));
      if (!href) return children;
      const join = M.JOIN_LABELS.includes(node.textContent.trim());
      return [h("a", {
        href, rel: "noopener noreferrer", target: "_blank", class: join ? "button m-join" : null,
      }, ...children)];
    }
    return [h(node.tagName.toLowerCase(), {}, ...children)];
  };
  return [...doc.body.childNodes].flatMap(copy);
}

/** Text with its web addresses as links (http and https only; the text stays text). */
function linkify(text) {
  return M.splitLinks(text).map((part) =>
    part.link ? h("a", { href: part.text, rel: "noopener noreferrer", target: "_blank" }, part.text) : part.text,
  );
}
