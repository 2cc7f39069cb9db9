// What follows the person to any client (pins, mute, marks, folders) and the dialogs: polls,
// forwarding, notification settings, contacts, support.

import { ClientEvent } from "matrix-js-sdk";
import { clear, h } from "./dom.js";
import * as M from "./model.js";
export const withSettings = (Base) =>
  class extends Base {
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
        ...content.filter((part) => part !== null && part !== undefined && part !== false),
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
      const content = M.forwardContent(this.edits?.get(e.getId()) || e.getContent());
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
      try {
        const answer = await fetch(this.cfg.contactsUrl, { credentials: "same-origin" });
        if (!answer.ok) throw new Error(`${answer.status}`);
        return await answer.json();
      } catch (e) {
        this.fail(`${this.t.failed}: ${e.message}`);
        return null;
      }
    }

    async openContacts() {
      const t = this.t;
      const data = await this.people();
      if (!data) return;
      const list = h("div", { class: "m-contacts", "data-testid": "contacts" });
      const search = h("input", {
        type: "search", id: "m-contacts-search", class: "m-search", autocomplete: "off",
        onInput: () => draw(),
      });
      const person = (c) => h("li", { class: "m-contact" },
        h("span", { class: "m-contact-name" }, c.name), " ",
        h("span", { class: "hint" }, c.detail ? `${c.role}, ${c.detail}` : c.role),
        c.user_id
          ? h("button", { type: "button", onClick: () => this.openDirect(c.user_id, c.name) }, t.write)
          : h("span", { class: "hint" }, ` — ${t.notLinkedYet}`,
            c.letter_url ? [" ", h("a", { href: c.letter_url, "data-testid": "letter" }, t.accessLetter)] : null));
      const draw = () => {
        const found = M.groupContacts(data.contacts, search.value);
        clear(list).append(...(found.length
          ? found.map(([group, people]) => h("section", { class: "m-contact-group", "aria-label": group },
            h("h3", {}, group, " ", h("span", { class: "hint" }, String(people.length))),
            h("ul", {}, people.map(person))))
          : [h("p", { class: "hint" }, t.nobodyFound)]));
      };
      draw();
      this.showDialog(t.contacts, h("p", { class: "hint" }, t.contactsHint),
        h("label", { for: "m-contacts-search" }, t.findPerson), search, list);
      search.focus();
    }

    async openSupport() {
      const t = this.t;
      const data = await this.people();
      if (!data) return;
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
  };

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
