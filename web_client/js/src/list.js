// The chat list: folders, search, groups under the school's spaces, invitations, unread badges.

import { h, keepSame } from "./dom.js";
import * as M from "./model.js";
export const withList = (Base) =>
  class extends Base {
    // ---- the list -----------------------------------------------------------------------------

    renderList() {
      const t = this.t;
      const folders = this.folders();
      if (this.folder !== "all" && !folders.some((f) => f.id === this.folder)) this.folder = "all";
      // what has not changed stays as it is: a press or the focus on it survives the redraw
      keepSame(this.folderBar, [
        this.folderButton("all", t.allChats),
        ...folders.map((f) => this.folderButton(f.id, f.name)),
        h("button", { type: "button", class: "m-add", onClick: () => this.newFolder() }, `+ ${t.newFolder}`),
      ]);
      const query = this.search.value.trim().toLocaleLowerCase();
      const inFolder = this.folder === "all" ? null : new Set(folders.find((f) => f.id === this.folder).rooms);
      const rooms = this.rooms().filter(
        (r) =>
          r.isSpace ||
          ((!inFolder || inFolder.has(r.id)) && (!query || r.name.toLocaleLowerCase().includes(query))),
      );
      const groups = M.groupChats(rooms, t);
      const drawn = [];
      const invites = this.client.getRooms().filter((r) => r.getMyMembership() === "invite");
      if (invites.length) drawn.push(this.invitations(invites));
      if (!groups.length && !invites.length) drawn.push(h("p", { class: "empty" }, t.noChats));
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
        drawn.push(
          h(
            "section",
            { class: "m-group", "data-testid": `group-${group.id}`, "aria-label": group.name,
              "data-keep": group.id },
            heading,
            h("ul", { class: "m-chats", "data-keep": "chats" }, items),
          ),
        );
      }
      keepSame(this.list, drawn);
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
          "data-folder": id,
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
  };
